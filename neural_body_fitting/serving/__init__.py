"""Inference: from an image (or a part map) to a body.

  crops       the paper's 512 px person crop and its inverse
  keypoints   keypoint layouts by name and the original's 14 landmarks from them
  people      person boxes from OpenPose / COCO keypoints and box lists
  detected    people found by the BlazePose detector, written as OpenPose JSON
  handover    stage 1 -> stage 2 as the original (argmax, colours, PIL thumbnail-nearest)
  graph       the inference graph shared by the Predictor and the SavedModel
  predictor   `Predictor`: run directories or a SavedModel -> bodies per person
  predicted_data  a dataset copy whose part maps a segmenter predicted (Table 2)
  inputs      the items of a run and their pixels (with per-item errors)
  outputs     the files written per person (.npz, _body.pkl, .obj, .ply, PNGs)
  gallery     index.html
  inference   `run_inference`: a folder in, outputs and the gallery out
  export      the SavedModel (fit, segment_fit, serve_bytes) and TFLite export
"""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("crops", "detected", "export", "gallery", "graph", "handover", "inference",
                "inputs", "keypoints", "outputs", "people", "predicted_data", "predictor"),
    exports={
        "crops": ("CropTransform", "transform_for_box", "crop_image"),
        "export": ("export_saved_model", "export_tflite"),
        "gallery": ("write_gallery",),
        "inference": ("run_inference",),
        "people": ("read_people",),
        "predicted_data": ("write_predicted_dataset",),
        "predictor": ("Predictor",),
    },
)
