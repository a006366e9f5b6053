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
    """Imports TensorFlow with its C++ start-up messages hidden (unless --verbosity is given).

    TensorFlow prints CUDA and CPU-feature notices from C++ before its logging
    is configured, so TF_CPP_MIN_LOG_LEVEL cannot hide them: standard error
    is pointed at /dev/null while TensorFlow loads and finds its devices.
    """
    if _asks_for_verbosity(argv):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


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


def run_command(main, argv=None):
    """Runs an absl `main` the way every command does."""
    argv = resolve_config_argument(sys.argv if argv is None else argv)
    quiet_tensorflow(argv)
    app.run(main, argv=argv)


def define_config_flag():
    from ml_collections import config_flags

    return config_flags.DEFINE_config_file(
        "config", experiments.experiment_path("demo_up"),
        "Experiment config: a config file, or a named experiment "
        f"({', '.join(sorted(experiments.EXPERIMENTS))}; e.g. ablations:table1_parts6). "
        "Override keys with --config.<key>=<value>.")
