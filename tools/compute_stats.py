"""Latent statistics of a training list: mean and std of the 229 latent values.

    python tools/compute_stats.py --dataset_root=/data/synthetic --rotation_mode=absolute \
        --output=/data/synthetic/latent_stats

writes <output>_mean.npy and <output>_std.npy, each [229]: 10 betas, 216
rotation-matrix entries (24 x 9, row-major, in --rotation_mode), 3 translation.
"""
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting import data  # noqa: E402

ROOT = flags.DEFINE_string("dataset_root", None, "Dataset root.", required=True)
SPLIT = flags.DEFINE_string("split", "train", "List to average over.")
MODE = flags.DEFINE_enum("rotation_mode", "absolute", ["absolute", "relative"],
                         "Rotations as in the training config (use_absrot).")
OUTPUT = flags.DEFINE_string("output", None, "Output prefix.", required=True)


def save_atomic(path, array):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=directory, suffix=".npy")
    with os.fdopen(handle, "wb") as stream:
        np.save(stream, array)
    os.replace(tmp_path, path)


def main(argv):
    del argv
    split = data.load_split(ROOT.value, SPLIT.value, input_type="joints14")
    mean, std = data.latent_statistics(split, MODE.value)
    save_atomic(f"{OUTPUT.value}_mean.npy", mean)
    save_atomic(f"{OUTPUT.value}_std.npy", std)
    print(f"{len(split.ids)} samples -> {OUTPUT.value}_mean.npy, {OUTPUT.value}_std.npy")


if __name__ == "__main__":
    app.run(main)
