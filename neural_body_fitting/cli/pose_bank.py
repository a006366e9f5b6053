"""Builds a pose bank of SMPL body poses from a folder of BVH motion-capture clips.

    nbf-pose-bank --bvh_dir=/data/cmu_bvh --output=/data/my_pose_bank.npz

The clips are retargeted to the body model (--smpl_model, else $NBF_SMPL_MODEL,
else the built-in synthetic model) through the CMU joint map
(neural_body_fitting/body/retarget.py); neural_body_fitting/data/pose_bank_builder.py
says what the bank holds. A NOTICE file with the data's credit line is written
next to the bank. Use the bank with `nbf-make-data --pose_bank=<file>`.
"""
from absl import app, flags

from neural_body_fitting.body import pose_bank
from neural_body_fitting.cli import common

BVH_DIR = flags.DEFINE_string("bvh_dir", None, "Folder of .bvh clips.", required=True)
OUTPUT = flags.DEFINE_string("output", None, "Pose bank file to write (.npz).", required=True)
SMPL_MODEL = common.define_smpl_model_flag()
FPS = flags.DEFINE_float("fps", pose_bank.DEFAULT_FPS, "Frames kept per second.",
                         lower_bound=0.1)
MIN_DISTANCE = flags.DEFINE_float(
    "min_distance_degrees", pose_bank.DEFAULT_MIN_DISTANCE_DEGREES,
    "Poses closer than this (mean rotation over the joints) to one kept count once.",
    lower_bound=0.0)


def main(argv):
    del argv
    # Imported here: retargeting runs SMPL, and a command must not load
    # TensorFlow before its start-up has quieted it (cli/startup.py).
    from neural_body_fitting.data import pose_bank_builder

    try:
        pose_bank_builder.build_pose_bank(BVH_DIR.value, OUTPUT.value, SMPL_MODEL.value,
                                          fps=FPS.value, min_distance_degrees=MIN_DISTANCE.value)
    except ValueError as error:  # A bad clip or folder: named, without a traceback.
        raise app.UsageError(str(error)) from error


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
