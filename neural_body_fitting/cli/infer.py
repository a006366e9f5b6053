"""Fits bodies to a folder of images or part maps and writes the outputs and a gallery.

    nbf-infer --mode=segment_fit --input=photos/ --keypoints=openpose_json/ \
        --fitting_run=runs/up3d --segmentation_run=runs/seg --output_dir=out
    nbf-infer --mode=fit --input='maps/*.png' --saved_model=export/ --output_dir=out
    nbf-infer --input=photos/ --fitting_run=runs/up3d --segmentation_run=runs/seg \
        --output_dir=out                        # people found by BlazePose
    nbf-infer --mode=keypoints_fit --input=photos/ --fitting_run=runs/joints14 --output_dir=out

keypoints_fit fits a joints14 run to each person's 14 landmarks instead of a
part map. Without --keypoints or --boxes, both find the people with the BlazePose
detector (--detector=blazepose, the default then; model files from `nbf-models
fetch`) and writes their keypoints as OpenPose JSON to <output_dir>/keypoints/,
which a later run can take as --keypoints. --detector=none takes every image as
a 512 crop of one person.

Per person, in <output_dir>/images/: the crop, the part map, mesh overlays on
the crop and on the original image (with the projected joints), the mesh as
.obj and .ply, <id>_body.pkl (the original's UP-3D fit dict) and <id>.npz
(every output); <output_dir>/index.html shows them all. People already
finished are skipped unless --overwrite. --output_dir must be new, empty or an
earlier nbf-infer output: other folders are refused. Items that fail are listed on the
console and in the gallery, and the exit status is 1.
"""
import os
import sys

from absl import flags

from neural_body_fitting import detection, serving
from neural_body_fitting.cli import common
from neural_body_fitting.utils import images, outputs

INPUT = flags.DEFINE_string("input", None, "Image folder, glob pattern or file.", required=True)
KEYPOINTS = flags.DEFINE_string("keypoints", None, "OpenPose JSON (file or folder) or COCO "
                                "keypoint annotations: one crop per person (segment_fit).")
BOXES = flags.DEFINE_string("boxes", None, "Person boxes, JSON {image: [[x0, y0, x1, y1]]} or "
                            "CSV image,x0,y0,x1,y1 (segment_fit).")
DETECTOR = flags.DEFINE_enum("detector", None, ["blazepose", "none"], "Who finds the people "
                             "in photographs without --keypoints/--boxes (default blazepose).")
MODE = flags.DEFINE_enum("mode", "segment_fit", ["fit", "segment_fit", "keypoints_fit"],
                         "segment_fit: images -> part maps -> bodies; fit: 12-part colour maps "
                         "or label maps -> bodies; keypoints_fit: landmarks -> bodies.")
FITTING_RUN = flags.DEFINE_string("fitting_run", None, "Fitting-network training run.")
SEGMENTATION_RUN = flags.DEFINE_string("segmentation_run", None, "Segmentation training run "
                                       "(segment_fit).")
SAVED_MODEL = flags.DEFINE_string("saved_model", None, "A SavedModel from nbf-export instead "
                                  "of the runs.")
SMPL_MODEL = common.define_smpl_model_flag()
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Output folder.", required=True)
BATCH_SIZE = flags.DEFINE_integer("batch_size", 8, "People per network call.", lower_bound=1)
OVERWRITE = flags.DEFINE_bool("overwrite", False, "Redo people whose outputs exist.")
MAX_MEGAPIXELS = flags.DEFINE_float(
    "max_megapixels", images.DEFAULT_MAX_MEGAPIXELS, "Larger images are refused (each one "
    "a failed item) from their headers, before decoding.", lower_bound=0.01)


def _predictor():
    if bool(SAVED_MODEL.value) == bool(FITTING_RUN.value):
        sys.exit("nbf-infer: give either --fitting_run (with --segmentation_run for "
                 "segment_fit) or --saved_model")
    if SAVED_MODEL.value:
        return serving.Predictor.from_saved_model(SAVED_MODEL.value)
    if MODE.value == "segment_fit" and not SEGMENTATION_RUN.value:
        sys.exit("nbf-infer: --mode=segment_fit needs --segmentation_run (or --mode=fit for "
                 "part maps)")
    return serving.Predictor.from_runs(FITTING_RUN.value, SEGMENTATION_RUN.value,
                                       SMPL_MODEL.value)


def _detector():
    """The BlazePose detector, or None when the people come from elsewhere."""
    given = KEYPOINTS.value or BOXES.value
    if DETECTOR.value == "blazepose" and (given or MODE.value == "fit"):
        sys.exit("nbf-infer: --detector=blazepose finds people in photographs (segment_fit, "
                 "keypoints_fit) when no --keypoints or --boxes are given")
    if given or MODE.value == "fit" or DETECTOR.value == "none":
        return None
    try:
        return detection.Detector(masks=False)
    except detection.ModelFileError as error:
        sys.exit(f"nbf-infer: {error}")


def main(argv):
    del argv
    if KEYPOINTS.value and BOXES.value:
        sys.exit("nbf-infer: give --keypoints or --boxes, not both")
    detector = _detector()
    outputs.claim(OUTPUT_DIR.value, "--output_dir", reuse=True)
    predictor = _predictor()
    os.makedirs(OUTPUT_DIR.value, exist_ok=True)
    outputs.mark(OUTPUT_DIR.value, "nbf-infer")
    summary = serving.run_inference(
        predictor, INPUT.value, OUTPUT_DIR.value, MODE.value,
        KEYPOINTS.value or BOXES.value, BATCH_SIZE.value, OVERWRITE.value, detector=detector,
        max_megapixels=MAX_MEGAPIXELS.value)
    print(f"{len(summary.written)} people written, {len(summary.skipped)} already finished, "
          f"{len(summary.failed)} failed; gallery: {summary.gallery}")
    for name, message in summary.notes:
        print(f"  NOTE {name}: {message}")
    for name, message in summary.failed:
        print(f"  FAILED {name}: {message}")
    if summary.failed:
        sys.exit(1)


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
