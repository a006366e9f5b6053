"""Latent statistics of a training list: mean and std of the 229 latent values.

    nbf-stats --dataset_root=/data/synthetic --rotation_mode=absolute \
        --output=/data/synthetic/latent_stats

writes <output>_mean.npy and <output>_std.npy, each [229]: 10 betas, 216
rotation-matrix entries (24 x 9, row-major, in --rotation_mode), 3 translation.
"""

from absl import app, flags

from neural_body_fitting import data
from neural_body_fitting.cli import common
from neural_body_fitting.data import statistics
from neural_body_fitting.utils import outputs

ROOT = flags.DEFINE_string("dataset_root", None, "Dataset root.", required=True)
SPLIT = flags.DEFINE_string("split", "train", "List to average over.")
MODE = flags.DEFINE_enum("rotation_mode", "absolute", ["absolute", "relative"],
                         "Rotations as in the training config (use_absrot).")
OUTPUT = flags.DEFINE_string("output", None, "Output prefix.", required=True)
OVERWRITE = common.define_overwrite_flag("statistics written earlier by nbf-stats")


def main(argv):
    del argv
    try:
        paths = statistics.statistics_paths(OUTPUT.value)
    except ValueError as error:
        raise app.UsageError(f"--output {error}") from None
    for path in paths.values():
        outputs.claim(path, "--output", OVERWRITE.value)
    split = data.load_split(ROOT.value, SPLIT.value, input_type="joints14")
    mean, std = data.latent_statistics(split, MODE.value)
    for path in statistics.save_latent_statistics(OUTPUT.value, mean, std).values():
        outputs.mark(path, "nbf-stats")
    print(f"{len(split.ids)} samples -> {OUTPUT.value}_mean.npy, {OUTPUT.value}_std.npy")


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
