"""What every command shares: how it runs (`run_command`), the config flag, the
body-model and run-change flags."""
import functools
import os
import sys

from absl import app, flags

from neural_body_fitting.cli import startup
from neural_body_fitting.configs import experiments
from neural_body_fitting.utils import locks, outputs

# Refusals to touch what a user or another process owns: one line, no traceback.
REFUSALS = (outputs.OutputRefused, locks.DirectoryBusy)


def define_smpl_model_flag():
    return flags.DEFINE_string(
        "smpl_model", None, "SMPL model file (.pkl/.npz) or 'synthetic[:seed]'; default "
        "$NBF_SMPL_MODEL, else the built-in synthetic model.")


def run_command(main, config_flag=None):
    """Runs an absl `main` the way every command does: `startup.prepare_command_line` on
    `sys.argv`, then `config_flag` (a `ConfigFlag`) defined, then absl's flags."""
    sys.argv[:] = startup.prepare_command_line(sys.argv)
    if config_flag is not None:
        config_flag.define()
    app.run(_refusals_as_one_line(main))


def _refusals_as_one_line(main):
    @functools.wraps(main)
    def guarded(argv):
        try:
            return main(argv)
        except REFUSALS as error:
            sys.exit(f"{os.path.basename(sys.argv[0])}: {error}")
    return guarded


def define_overwrite_flag(what="an earlier output of this command"):
    return flags.DEFINE_bool("overwrite", False, f"Replace {what} (other files are never "
                             "replaced: see utils/outputs.py).")


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
    from neural_body_fitting.training import runs

    if config_flag.present or runs.read_record(model_dir) is None:
        return config_flag.value
    config = runs.load_run_config(model_dir)
    config.update_from_flattened_dict(config_flag.overrides())
    return config


class ConfigFlag:
    """`--config` with its `--config.<key>` overrides, defined by `run_command`.

    ml_collections reads `sys.argv` when the flag is defined: without
    `--config` on the command line it loads the default config there and
    then and defines a flag per `--config.<key>` (an unknown key raising);
    with `--config` it loads the file when absl parses. Defined at import,
    it would read the command line before `startup.prepare_command_line` resolved
    experiment names and checked the keys.
    """

    name = "config"

    def __init__(self, default):
        self.default = default  # A named experiment.
        self._holder = None

    def define(self):
        from ml_collections import config_flags

        self._holder = config_flags.DEFINE_config_file(
            self.name, experiments.experiment_path(self.default),
            "Experiment config: a config file, or a named experiment "
            f"({', '.join(experiments.EXPERIMENTS.names())}; e.g. ablations:table1_parts6). "
            "Override keys with --config.<key>=<value>.")

    @property
    def value(self):
        return self._holder.value

    @property
    def present(self):
        """Whether `--config` itself was given."""
        return flags.FLAGS[self.name].present

    def overrides(self):
        """{dotted key: value} of the `--config.<key>` overrides given."""
        from ml_collections import config_flags

        return config_flags.get_override_values(flags.FLAGS[self.name])


def define_config_flag(default="demo_up"):
    """The command's `--config` (pass it to `run_command`, which defines it)."""
    return ConfigFlag(default)
