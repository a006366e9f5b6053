"""Ports an original NBF TF1 fitting checkpoint to a TF2 checkpoint and Keras weights.

    python tools/port_checkpoint.py --tf1_checkpoint=/old/model.ckpt-100000 \
        --config=experiments/demo_up.py --latent_stats=/data/up3d/latent_stats \
        --output_dir=/runs/ported

Prints every assigned, missing, unmapped and ignored (optimizer bookkeeping)
variable count; a shape mismatch stops with the variable's name.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from neural_body_fitting import config as config_lib  # noqa: E402
from neural_body_fitting import models, porting  # noqa: E402

CONFIG = config_flags.DEFINE_config_file("config", "experiments/demo_up.py", "Experiment config.")
TF1_CHECKPOINT = flags.DEFINE_string("tf1_checkpoint", None, "TF1 checkpoint prefix or folder.",
                                     required=True)
LATENT_STATS = flags.DEFINE_string("latent_stats", None,
                                   "Prefix of <prefix>_mean.npy (the run's latent statistics).")
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write.", required=True)
ALLOW_MISSING = flags.DEFINE_bool("allow_missing", False, "Keep initial values for missing ones.")


def main(argv):
    del argv
    config = config_lib.validate(CONFIG.value)
    view = config_lib.model_view(config)
    mean = None
    if LATENT_STATS.value:
        mean = models.latent_mean_for(view, np.load(f"{LATENT_STATS.value}_mean.npy"))
    model = models.NBFModel(view, config.body_model or None, mean)
    model(tf.zeros([1, config.input_size, config.input_size, 3]))
    report, checkpoint, weights = porting.port_fitting_checkpoint(
        TF1_CHECKPOINT.value, model, OUTPUT_DIR.value, ALLOW_MISSING.value)
    for key in ("assigned", "missing", "unmapped", "ignored"):
        print(f"{key}: {len(report[key])}")
        if key in ("missing", "unmapped"):
            for name in report[key]:
                print(f"  {name}")
    print(f"TF2 checkpoint: {checkpoint}\nKeras weights: {weights}")


if __name__ == "__main__":
    app.run(main)
