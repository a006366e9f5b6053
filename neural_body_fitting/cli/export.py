"""Exports a fitting run (and optionally a segmentation run) as a SavedModel.

    nbf-export --fitting_run=runs/up3d [--segmentation_run=runs/seg] \
        --output=export/ [--tflite=export/fitting.tflite]

Signatures: fit (uint8 part maps [B, 224, 224, 3]), segment_fit (uint8 crops
[B, 512, 512, 3], with a segmentation run) and serve_bytes (encoded PNG/JPEG
[B]); for a joints14 run keypoints_fit (landmarks [B, 14, 2]) instead. The
export holds the body model's arrays: made with SMPL, it is bound by SMPL's
licence. --tflite also converts the fitting network alone.
"""
import sys

from absl import flags

from neural_body_fitting import serving
from neural_body_fitting.cli import common
from neural_body_fitting.utils import outputs

FITTING_RUN = flags.DEFINE_string("fitting_run", None, "Fitting-network training run.",
                                  required=True)
SEGMENTATION_RUN = flags.DEFINE_string("segmentation_run", None, "Segmentation run (adds "
                                       "segment_fit; serve_bytes then takes photos).")
SMPL_MODEL = common.define_smpl_model_flag()
OUTPUT = flags.DEFINE_string("output", None, "SavedModel folder: new, empty, or an earlier "
                             "export (with --overwrite, replaced when complete).", required=True)
OVERWRITE = common.define_overwrite_flag("earlier exports at --output and --tflite")
TFLITE = flags.DEFINE_string("tflite", None, "Also write the fitting network as TFLite here.")


def main(argv):
    del argv
    outputs.claim(OUTPUT.value, "--output", OVERWRITE.value)
    if TFLITE.value:
        outputs.claim(TFLITE.value, "--tflite", OVERWRITE.value)
    from neural_body_fitting.serving import predictor  # TensorFlow, once the output is ours.

    model = predictor.load_fitting_run(FITTING_RUN.value, SMPL_MODEL.value)
    segmenter = (predictor.load_segmentation_run(SEGMENTATION_RUN.value)
                 if SEGMENTATION_RUN.value else None)
    serving.export_saved_model(OUTPUT.value, model, segmenter)
    outputs.mark(OUTPUT.value, "nbf-export")
    print(f"SavedModel -> {OUTPUT.value}")
    if TFLITE.value:
        from neural_body_fitting.serving import export

        try:
            export.export_tflite(TFLITE.value, model)
        except export.TFLiteConversionError as error:
            sys.exit(f"nbf-export: the SavedModel is written; TFLite conversion failed: {error}")
        outputs.mark(TFLITE.value, "nbf-export")
        print(f"TFLite -> {TFLITE.value}")


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
