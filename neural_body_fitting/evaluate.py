"""Evaluates a trained fitting network on a split.

    python -m neural_body_fitting.evaluate --config=experiments/demo_up.py \
        --config.dataset_root=/data/up3d_nbf --model_dir=/runs/up3d [--split=test]

Writes <model_dir>/eval_<split>.npz and .csv (one row per sample) and prints
the means, the median reconstruction error and the error quartiles' samples.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from neural_body_fitting import evaluation  # noqa: E402

CONFIG = config_flags.DEFINE_config_file("config", "experiments/demo_up.py", "Experiment config.")
MODEL_DIR = flags.DEFINE_string("model_dir", None, "Training directory.", required=True)
SPLIT = flags.DEFINE_string("split", None, "Split to evaluate (default config.eval_split).")
BASELINE = flags.DEFINE_bool("baseline", False, "Evaluate predicting the latent mean instead.")


def main(argv):
    del argv
    split = SPLIT.value or CONFIG.value.eval_split
    summary = evaluation.run_evaluation(CONFIG.value, MODEL_DIR.value, split, BASELINE.value)
    print(json.dumps(summary, indent=2, default=str))


def run():
    app.run(main)


if __name__ == "__main__":
    run()
