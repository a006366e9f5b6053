"""What every command shares: quiet start-up, named experiment configs, the
body-model flag."""
import os
import sys

from absl import app, flags

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
    import tensorflow  # noqa: F401  (loads now, quietly, before any flag is parsed)


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


def define_smpl_model_flag():
    return flags.DEFINE_string(
        "smpl_model", None, "SMPL model file (.pkl/.npz) or 'synthetic[:seed]'; default "
        "$NBF_SMPL_MODEL, else the built-in synthetic model.")


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


def prepare_command_line():
    """Once per process, before any flag reads `sys.argv`: named experiments become their
    config files, TensorFlow loads quietly, and an unknown `--config.<key>` stops with one line.

    ml_collections parses `--config.<key>` overrides when the config flag is
    defined (at import), so this runs from `define_config_flag` too.
    """
    global _prepared
    if _prepared:
        return
    _prepared = True
    sys.argv[:] = resolve_config_argument(sys.argv)
    quiet_tensorflow(sys.argv)
    message = unknown_override(sys.argv)
    if message:
        sys.exit(f"{os.path.basename(sys.argv[0])}: {message}")


_prepared = False


def run_command(main):
    """Runs an absl `main` the way every command does."""
    prepare_command_line()
    app.run(main)


def define_allow_run_changes_flag():
    return flags.DEFINE_bool(
        "allow_run_changes", False, "Accept a config, body model or training data that differ "
        "from the run's record (run.json), e.g. to fine-tune; the changes are logged and "
        "recorded in the run's history.")


def config_for_run(config_flag, model_dir):
    """The config a command on an existing run uses.

    Without an explicit --config, the run's recorded config (with any
    --config.<key> overrides); otherwise the given config, which the library
    then checks against the record.
    """
    from ml_collections import config_flags

    from neural_body_fitting.training import runs

    if flags.FLAGS[config_flag.name].present or runs.read_record(model_dir) is None:
        return config_flag.value
    config = runs.load_run_config(model_dir)
    config.update_from_flattened_dict(
        config_flags.get_override_values(flags.FLAGS[config_flag.name]))
    return config


def define_config_flag():
    from ml_collections import config_flags

    prepare_command_line()
    return config_flags.DEFINE_config_file(
        "config", experiments.experiment_path("demo_up"),
        "Experiment config: a config file, or a named experiment "
        f"({', '.join(experiments.EXPERIMENTS.names())}; e.g. ablations:table1_parts6). "
        "Override keys with --config.<key>=<value>.")
