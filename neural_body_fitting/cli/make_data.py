"""Generates a synthetic NBF dataset in the original layout.

    nbf-make-data --output_dir=/data/synthetic \
        --num_train=1000 --num_val=100 --num_test=100 --workers=2

The body model is --smpl_model, else $NBF_SMPL_MODEL, else the built-in
synthetic model. See neural_body_fitting/data/synthesis.py for what a sample holds;
poses come from the motion-capture pose bank by default (--pose_prior).

--output_dir must be new, empty or a dataset made by this library (anything
else is refused). An interrupted run leaves dataset.json with "complete":
false; the same command (with or without --overwrite) resumes it, keeping the
finished samples. One process at a time generates into a folder.
"""
import time

from absl import app, flags

from neural_body_fitting.body import pose_prior
from neural_body_fitting.cli import common
from neural_body_fitting.data import encodings, layout, synthesis
from neural_body_fitting.utils import outputs

OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Dataset root to create.", required=True)
NUM_TRAIN = flags.DEFINE_integer("num_train", 1000, "Training samples.", lower_bound=0)
NUM_VAL = flags.DEFINE_integer("num_val", 100, "Validation samples.", lower_bound=0)
NUM_TEST = flags.DEFINE_integer("num_test", 100, "Test samples.", lower_bound=0)
SEED = flags.DEFINE_integer("seed", 0, "Everything derives from it.")
SMPL_MODEL = common.define_smpl_model_flag()
LATENT_FRACTION = flags.DEFINE_float("latent_fraction", 1.0,
                                     "Fraction of training samples with latent flag 1.",
                                     lower_bound=0.0, upper_bound=1.0)
MIRROR_FRACTION = flags.DEFINE_float("mirror_fraction", 0.5, "Fraction of mirrored samples.",
                                     lower_bound=0.0, upper_bound=1.0)
NUM_LANDMARKS = flags.DEFINE_enum("num_landmarks", "14", ["14", "24"],
                                  "Landmarks stored in joints/*.bin.")
WORKERS = flags.DEFINE_integer("workers", 2, "Worker processes.", lower_bound=1)
GRANULARITY = flags.DEFINE_list(
    "granularity", ["12"], "Colour maps to write: part counts among 1,3,6,12,24, or 'all'. The "
    "24-part label map is always written, so every encoding can also be computed on the fly.")
POSE_PRIOR = flags.DEFINE_enum(
    "pose_prior", pose_prior.MOCAP_PRIOR, list(pose_prior.KINDS),
    "Poses: 'mocap' (the motion-capture pose bank, mixed with the Euler-limit prior) or "
    "'limits' (the Euler-limit prior alone).")
LIMITS_FRACTION = flags.DEFINE_float(
    "limits_fraction", pose_prior.DEFAULT_LIMITS_FRACTION,
    "For --pose_prior=mocap: fraction of samples from the Euler-limit prior.",
    lower_bound=0.0, upper_bound=1.0)
POSE_BANK = flags.DEFINE_string("pose_bank", None, "For --pose_prior=mocap: a pose bank "
                                "file (nbf-pose-bank); default the one shipped.")
OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Replace a dataset made earlier by this library. An interrupted "
    "generation there is resumed if its settings are these (with or without this flag).")


def _granularities(values):
    if values == ["all"]:
        return encodings.GRANULARITIES
    try:
        return tuple(int(value) for value in values)
    except ValueError:
        raise app.UsageError(f"--granularity must list part counts or be 'all', got {values}")


def main(argv):
    del argv
    outputs.claim(OUTPUT_DIR.value, "--output_dir", OVERWRITE.value,
                  reuse=layout.is_incomplete(OUTPUT_DIR.value))
    start = time.perf_counter()
    counts = {"train": NUM_TRAIN.value, "val": NUM_VAL.value, "test": NUM_TEST.value}
    try:
        synthesis.generate_dataset(OUTPUT_DIR.value, counts, seed=SEED.value,
                                   body_model=SMPL_MODEL.value,
                                   latent_fraction=LATENT_FRACTION.value,
                                   mirror_fraction=MIRROR_FRACTION.value,
                                   num_landmarks=int(NUM_LANDMARKS.value),
                                   workers=WORKERS.value,
                                   granularities=_granularities(GRANULARITY.value),
                                   overwrite=OVERWRITE.value,
                                   prior=pose_prior.PosePrior(
                                       POSE_PRIOR.value, LIMITS_FRACTION.value,
                                       bank=POSE_BANK.value))
    except synthesis.SettingsMismatch as error:
        raise app.UsageError(str(error)) from error
    total = sum(counts.values())
    seconds = time.perf_counter() - start
    print(f"{total} samples in {seconds:.1f} s ({total / seconds:.1f} samples/s) "
          f"-> {OUTPUT_DIR.value}")


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
