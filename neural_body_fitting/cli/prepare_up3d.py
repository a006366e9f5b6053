"""Converts the public UP-3D release into the original NBF dataset layout.

    nbf-prepare-up3d --release_dir=/data/up-3d --output_dir=/data/up3d_nbf \
        [--smpl_model=/path/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl]

See neural_body_fitting/data/up3d.py for the scale normalisation and the crop.
"""

from absl import flags

from neural_body_fitting.cli import common
from neural_body_fitting.data import layout, up3d
from neural_body_fitting.utils import outputs

RELEASE_DIR = flags.DEFINE_string("release_dir", None, "UP-3D release folder.", required=True)
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Dataset root to create.", required=True)
SMPL_MODEL = common.define_smpl_model_flag()
SPLITS = flags.DEFINE_list("splits", ["train", "val", "test"], "Split files to convert.")
NUM_LANDMARKS = flags.DEFINE_enum("num_landmarks", "14", ["14", "24"], "Landmarks stored.")
OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace a dataset converted earlier by this "
                              "command (an interrupted conversion is redone without it; other "
                              "folders are refused).")
SKIP_BAD_SAMPLES = flags.DEFINE_bool(
    "skip_bad_samples", True, "Report and leave out samples that cannot be converted (they are "
    "listed in dataset.json); with --noskip_bad_samples the first one stops the conversion.")
_MARKER = {"source": "UP-3D"}


def main(argv):
    del argv
    interrupted = layout.read_dataset_info(OUTPUT_DIR.value) == {**_MARKER, "complete": False}
    outputs.claim(OUTPUT_DIR.value, "--output_dir", OVERWRITE.value, reuse=interrupted)
    # Marked incomplete before any sample is written, so an interrupted
    # conversion never leaves new samples under a previous dataset's lists and
    # dataset.json; convert_release writes the final dataset.json last.
    layout.start_generation(OUTPUT_DIR.value, _MARKER)
    outputs.mark(OUTPUT_DIR.value, "nbf-prepare-up3d")
    counts, skipped = up3d.convert_release(RELEASE_DIR.value, OUTPUT_DIR.value,
                                           SMPL_MODEL.value, SPLITS.value,
                                           int(NUM_LANDMARKS.value), SKIP_BAD_SAMPLES.value)
    print(f"converted {counts} -> {OUTPUT_DIR.value}")
    for sample_id, reason in skipped:
        print(f"skipped {sample_id}: {reason}")


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
