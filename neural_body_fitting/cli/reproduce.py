"""Reproduces one of the paper's ablation tables at reduced scale on synthetic data.

    nbf-reproduce --table=table3 [--output_dir=reproduce_output] [--variants=lat,lat_3d]
        [--input_size=96 --steps=1200 --batch_size=16 --num_train=1500 --num_test=128
         --lr=1e-3 --lr_policy=poly] [--config.<key>=<value> ...]
    nbf-reproduce --table=table2 [--segmentation_run=DIR]

`--config.<key>` overrides go into every fitting variant's config (not Table
2's segmenter) and are recorded with the budget; those of the budget flags'
keys (`--config.optim.lr` for `--lr`, ...) set that flag's value. What is
written where: `neural_body_fitting/reproduction`.
"""
from absl import app, flags, logging

from neural_body_fitting import reproduction
from neural_body_fitting.cli import common
from neural_body_fitting.configs import base, reproduce
from neural_body_fitting.utils import locks, outputs

_DEFAULTS = reproduce.Budget()
TABLE = flags.DEFINE_enum("table", None, sorted(reproduce.TABLES), "The table to reproduce.",
                          required=True)
OUTPUT_DIR = flags.DEFINE_string("output_dir", "reproduce_output",
                                 "Data, runs, cached results and the tables: new, empty, or "
                                 "nbf-reproduce's own (reused; one process at a time).")
VARIANTS = flags.DEFINE_list("variants", None, "Only these variants of the table (default: all).")
SMPL_MODEL = common.define_smpl_model_flag()
INPUT_SIZE = flags.DEFINE_integer("input_size", _DEFAULTS.input_size, "Input side (px).")
STEPS = flags.DEFINE_integer("steps", _DEFAULTS.steps, "Training steps per variant.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Batch size.")
NUM_TRAIN = flags.DEFINE_integer("num_train", _DEFAULTS.num_train, "Training samples.")
NUM_TEST = flags.DEFINE_integer("num_test", _DEFAULTS.num_test, "Held-out samples.")
LR = flags.DEFINE_float("lr", _DEFAULTS.lr, "Learning rate.")
LR_POLICY = flags.DEFINE_enum("lr_policy", _DEFAULTS.lr_policy, base.LR_POLICIES,
                              "Learning-rate schedule (poly decays to 0 over --steps).")
SEGMENTATION_RUN = flags.DEFINE_string(
    "segmentation_run", None, "Table 2: the segmentation run whose part maps the fitting "
    "network gets (default: train one with the recipe of configs/reproduce.py).")
# Only its --config.<key> overrides: each variant's config comes from the table.
CONFIG = common.define_config_flag("demo")


def budget_from_flags():
    """The budget of the budget flags and the `--config.<key>` overrides."""
    if CONFIG.present:
        raise app.UsageError("--config: the table gives each variant's config; "
                             "nbf-reproduce takes --config.<key>=<value> overrides only")
    given = {name for name in reproduce.BUDGET_KEYS.values() if flags.FLAGS[name].present}
    try:
        budget = reproduce.Budget(
            input_size=INPUT_SIZE.value, steps=STEPS.value, batch_size=BATCH_SIZE.value,
            num_train=NUM_TRAIN.value, num_test=NUM_TEST.value, lr=LR.value,
            lr_policy=LR_POLICY.value)
        return reproduce.with_overrides(budget, CONFIG.overrides(), given)
    except ValueError as error:
        raise app.UsageError(str(error))


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keep the console to the command's own output.
    budget = budget_from_flags()
    outputs.claim(OUTPUT_DIR.value, "--output_dir", reuse=True)
    try:
        with locks.own_directory(OUTPUT_DIR.value):
            outputs.mark(OUTPUT_DIR.value, "nbf-reproduce")
            reproduction.reproduce_table(TABLE.value, OUTPUT_DIR.value, budget,
                                         VARIANTS.value, SMPL_MODEL.value,
                                         segmentation_run=SEGMENTATION_RUN.value)
    except reproduction.RequestError as error:
        raise app.UsageError(str(error))


def run():
    common.run_command(main, CONFIG)


if __name__ == "__main__":
    run()
