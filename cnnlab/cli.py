"""Command-line plumbing shared by the scripts: config flags with clear errors.

`config_flags` from ml_collections parses `--config=configs/x.py
--config.optim.lr=0.1`; on a typo it raises deep inside absl with a long
traceback. `main(fn)` checks the config file and every `--config.<field>`
override first and turns user mistakes into one line and exit status 2; errors
raised by the library for user-fixable causes (bad config values, missing
files, a NaN loss) print one line and exit with status 1.
"""
import os
import runpy
import sys

from absl import app, flags, logging

USER_ERRORS = (ValueError, FileNotFoundError, KeyError, ImportError)


def _fail(message: str, status: int = 2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def _config_args(argv, flag_name):
    path, overrides = None, []
    for arg in argv[1:]:
        if arg.startswith(f"--{flag_name}="):
            path = arg.split("=", 1)[1]
        elif arg.startswith(f"--{flag_name}."):
            overrides.append(arg[len(flag_name) + 3:])
    return path, overrides


def check_config_args(argv, flag_name: str = "config") -> None:
    """Raises SystemExit with a clear message for a missing config file or unknown field."""
    path, overrides = _config_args(argv, flag_name)
    if path is None:
        if overrides:
            _fail(f"--{flag_name}.* overrides given without --{flag_name}=configs/<name>.py.")
        return
    file_path, _, arg = path.partition(":")
    if not os.path.isfile(file_path):
        here = os.path.dirname(file_path) or "."
        options = sorted(f for f in os.listdir(here) if f.endswith(".py")) if os.path.isdir(here) else []
        _fail(f"config file {file_path!r} does not exist" +
              (f"; files in {here}: {', '.join(options)}" if options else "") + ".")
    try:
        module = runpy.run_path(file_path)
        config = module["get_config"](arg) if arg else module["get_config"]()
    except Exception as e:  # the config file itself is broken
        _fail(f"could not load {file_path}: {type(e).__name__}: {e}")
    names = {}  # the model and task the command names (an override of .name counts)
    for section in ("model", "task"):
        names[section] = config[section].get("name") if section in config else None
        for item in overrides:
            if item.startswith(f"{section}.name="):
                names[section] = item.split("=", 1)[1].strip("'\"")
    for item in overrides:
        key = item.split("=", 1)[0]
        node = config
        parts = key.split(".")
        if parts[0] == "data" and "data" in config:
            from cnnlab.train.defaults import addable
            if len(parts) == 3 and parts[1] == "augment" and config.data.get("augment") is None \
                    and addable(config, key):
                _fail(f"--{flag_name}.{item}: the config file {file_path} has no data.augment "
                      f"section to add {parts[2]!r} to (a task's augmentation is off without one); "
                      f"give the config `c.data.augment = ml_collections.ConfigDict()` first.")
            if addable(config, key) \
                    and parts[-1] not in (config.data.augment if len(parts) == 3 else config.data):
                continue  # a field of the data source or augmentation the config leaves at its default
        if len(parts) == 2 and parts[0] in names and parts[1] not in config[parts[0]]:
            from cnnlab.train.defaults import options
            known = options(parts[0], names[parts[0]])
            if parts[1] in known:
                continue  # an option of the named model or task that the config leaves at its default
            _fail(f"unknown config field `{flag_name}.{key}` (in --{flag_name}.{item}): "
                  f"{parts[0]} {names[parts[0]]!r} has no option {parts[1]!r}; its options are: "
                  f"{', '.join(sorted(set(known) | set(config[parts[0]].keys())))}.")
        for i, part in enumerate(parts):
            fields = list(node.keys()) if hasattr(node, "keys") else []
            if part not in fields:
                where = f"{flag_name}." + ".".join(parts[:i]) if i else flag_name
                _fail(f"unknown config field `{flag_name}.{key}` (in --{flag_name}.{item}); "
                      f"fields of {where.rstrip('.')} are: {', '.join(sorted(fields)) or '(none)'}.")
            node = node[part]


def _training_error():
    from cnnlab.train.loop import TrainingError
    return TrainingError


def _library_errors() -> tuple:
    """User-fixable errors of the library beyond USER_ERRORS: a failed weights download,
    no intact checkpoint, a lost peer process."""
    from cnnlab.pretrained.hub import WeightsDownloadError
    from cnnlab.train.checkpoint import CheckpointError
    return (_training_error(), WeightsDownloadError, CheckpointError)


def _peer_lost():
    from cnnlab.train.distributed import PeerLost
    return PeerLost


def main(fn, flag_name: str = "config"):
    """`absl.app.run(fn)` with clear messages for bad flags and user errors."""

    def parser(argv):
        check_config_args(argv, flag_name)
        try:
            args = flags.FLAGS(argv)
        except flags.Error as e:
            _fail(f"{e}. Run with --helpshort to list the flags.")
        if not any(a.startswith(("--verbosity", "-v=")) for a in argv):
            logging.set_verbosity(logging.WARNING)  # library INFO lines drown the progress
        return args

    def wrapped(argv):
        try:
            return fn(argv)
        except _peer_lost() as e:
            # The distributed runtime cannot shut down without its peer (its exit
            # barrier would wait out the heartbeat timeout): say why and leave now.
            print(f"error: {e}", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(1)
        except USER_ERRORS + _library_errors() as e:
            if os.environ.get("CNNLAB_TRACEBACK"):
                raise
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            _fail(f"{message}", status=1)

    app.run(wrapped, flags_parser=parser)
