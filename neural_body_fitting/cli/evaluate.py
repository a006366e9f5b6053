"""Evaluates a trained fitting network or part segmenter on a split.

    nbf-eval --config=demo_up \
        --config.runtime.dataset_root=/data/up3d_nbf --model_dir=/runs/up3d [--split=test]

Without --config the run's recorded config (run.json) is used; a given config
that contradicts the run on anything that defines the network's outputs is
refused unless --allow_run_changes.

For a fitting run, writes <model_dir>/eval_<split>_<dataset>.npz (<dataset>: the
dataset folder's name, so each dataset keeps its results) and .csv (one row per
sample), .json (the summary) and prints the means, the median reconstruction
error and the error quartiles' samples. For a segmentation run
(config.stage=segmentation), writes .csv (pixel accuracy, IoU and F1 per
sample) and .json (mean IoU with and without background, IoU per class, pixel
accuracy, mean F1) and prints the summary; --baseline evaluates an
all-background prediction.
"""
import json

from absl import flags

from neural_body_fitting import evaluation
from neural_body_fitting.cli import common

CONFIG = common.define_config_flag()
MODEL_DIR = flags.DEFINE_string("model_dir", None, "Training directory.", required=True)
SPLIT = flags.DEFINE_string("split", None, "Split to evaluate (default config.runtime.eval_split).")
SMPL_MODEL = common.define_smpl_model_flag()
ALLOW_RUN_CHANGES = common.define_allow_run_changes_flag()
BASELINE = flags.DEFINE_bool("baseline", False, "Evaluate a baseline instead: the latent mean "
                             "(fitting) or background everywhere (segmentation).")


def main(argv):
    del argv
    config = common.config_for_run(CONFIG, MODEL_DIR.value)
    if SMPL_MODEL.value:
        config.model.body_model = SMPL_MODEL.value
    run_evaluation = (evaluation.run_segmentation_evaluation if config.stage == "segmentation"
                      else evaluation.run_evaluation)
    summary = run_evaluation(config, MODEL_DIR.value, SPLIT.value or config.runtime.eval_split,
                             BASELINE.value, allow_run_changes=ALLOW_RUN_CHANGES.value)
    print(json.dumps(summary, indent=2, allow_nan=False))


def run():
    common.run_command(main, CONFIG)


if __name__ == "__main__":
    run()
