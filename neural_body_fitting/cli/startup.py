"""A command's start, before absl parses its flags: named experiments resolved to
their config files, TensorFlow's C++ start-up noise hidden, unknown
`--config.<key>` overrides stopped with one line (`common.run_command`)."""
import logging as python_logging
import os
import sys

from neural_body_fitting.configs import experiments

_VERBOSITY_FLAGS = ("--verbosity", "-v", "--v")


def _asks_for_verbosity(argv):
    return any(arg.split("=")[0] in _VERBOSITY_FLAGS for arg in argv[1:])


def quiet_tensorflow(argv):
    """Hides TensorFlow's C++ logging for the whole command (unless --verbosity is given).

    TensorFlow, XLA and CUDA print notices from C++ straight to file
    descriptor 2, before and after their logging is configured, so
    TF_CPP_MIN_LOG_LEVEL cannot hide them all. Here descriptor 2 is pointed
    at /dev/null (worker processes inherit it) and Python's `sys.stderr`, with
    absl's log handler, moves to a copy of the original descriptor: Python
    messages, progress bars and tracebacks still reach the terminal.
    INFO records that TensorFlow's own Python code logs (its SavedModel and
    checkpoint savers announce every file they write) are dropped at absl's
    handler, so a command prints its own lines; the library's INFO stays.
    TensorFlow is not loaded here: a command that refuses its arguments does so
    in a fraction of a second, and one that runs loads it when it needs it.
    """
    if _asks_for_verbosity(argv):
        return
    from absl import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    python_stderr = os.fdopen(os.dup(2), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    sys.stderr = python_stderr
    logging.get_absl_handler().python_handler.setStream(python_stderr)
    logging.get_absl_handler().addFilter(_without_tensorflow_info)


def _without_tensorflow_info(record):
    """False for an INFO (or lower) record logged from inside the tensorflow package."""
    inside = f"{os.sep}tensorflow{os.sep}" in record.pathname
    return record.levelno > python_logging.INFO or not inside


def resolve_config_argument(argv):
    """argv with `--config=<experiment>[:arg]` turned into that experiment's config file.

    A value that is an existing file is left alone, so config files keep working.
    """
    resolved = list(argv)
    for index, arg in enumerate(resolved):
        if arg.startswith("--config="):
            prefix, value = "--config=", arg[len("--config="):]
        elif arg == "--config" and index + 1 < len(resolved):
            prefix, value, index = "", resolved[index + 1], index + 1
        else:
            continue
        path = value.partition(":")[0]
        if not os.path.isfile(path) and path in experiments.EXPERIMENTS:
            resolved[index] = prefix + experiments.experiment_path(value)
    return resolved


def unknown_override(argv):
    """A one-line message for the first `--config.<key>` that names no config key, or None."""
    from neural_body_fitting import configs, registries
    from neural_body_fitting.utils import registry

    known = configs.base.config_keys()
    for arg in argv[1:]:
        if not arg.startswith("--config."):
            continue
        key = arg[len("--config."):].split("=")[0]
        term = key.removeprefix("loss.terms.")
        try:
            if term != key:
                registries.LOSS_TERMS.check(term, f"--config.{key}")
            else:
                known.check(key, f"--config.{key}")
        except registry.UnknownNameError as error:
            return error.headline
    return None


def prepare_command_line(argv):
    """`argv` as the command's flags are to read it: named experiments become their config
    files, and TensorFlow loads quietly; an unknown `--config.<key>` stops with one line."""
    argv = resolve_config_argument(argv)
    quiet_tensorflow(argv)
    message = unknown_override(argv)
    if message:
        sys.exit(f"{os.path.basename(argv[0])}: {message}")
    return argv
