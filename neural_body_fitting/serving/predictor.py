"""The Predictor: crops or part maps in, one body per person out.

    predictor = Predictor.from_runs("runs/fit", segmentation_run="runs/seg")
    result = predictor.segment_fit(crops, transforms)      # uint8 [B, 512, 512, 3]
    result = predictor.fit(part_maps)    # [B, n, n, 3] colours or [B, n, n] labels
    result = predictor.keypoints_fit(landmarks, transforms)  # [B, 14, 3] in the crops
    predictor = Predictor.from_saved_model("export/")      # the same, from `nbf-export`

A result is a dict of NumPy arrays (see `serving.graph`) plus

  smpl_joints_2d_original [B, 24, 2]  the 2D SMPL joints in the original image's pixels
  crop_transform [B, 4]               (scale, centre x, centre y, 512) of `crops.CropTransform`

Part maps are their own "original": without transforms their joints come
back in the map's pixels. Which calls a fitting run takes depends on what it
was trained to read (`input_type`): `fit` and `segment_fit` a `parts12` run,
`keypoints_fit` a `joints14` run.
"""
import os

import numpy as np
import tensorflow as tf

from neural_body_fitting import constants, evaluation
from neural_body_fitting.data import encodings
from neural_body_fitting.serving import crops, graph, handover, keypoints
from neural_body_fitting.training import runs


def load_fitting_run(run_dir, body_model=None):
    """The fitting network of a training run with its latest weights and latent mean.

    Args:
      run_dir: a training run directory (run.json, checkpoints, latent statistics).
      body_model: BodyModel or spec replacing the run's (it must have the same arrays).
    """
    config = runs.load_run_config(run_dir, stage="fitting")
    if body_model is not None:
        config.model.body_model = body_model
    return evaluation.load_run_model(config, run_dir)[0]


def load_segmentation_run(run_dir):
    """The segmenter of a segmentation training run, with its latest weights."""
    config = runs.load_run_config(run_dir, stage="segmentation")
    return evaluation.load_segmentation_run_model(config, run_dir)


def _as_colour_maps(part_maps):
    """Colour maps uint8 [B, n, n, 3], or label maps [B, n, n] coloured with the part colours."""
    part_maps = np.asarray(part_maps)
    if part_maps.ndim == 3:
        part_maps = encodings.colourise(part_maps)
    if part_maps.ndim != 4 or part_maps.shape[1] != part_maps.shape[2] or part_maps.shape[3] != 3:
        raise ValueError("part maps must be square colour maps [B, n, n, 3] or label maps "
                         f"[B, n, n], got shape {list(part_maps.shape)}")
    return part_maps.astype(np.uint8)


def _check_crops(images):
    images = np.asarray(images)
    expected = (constants.CROP_SIZE, constants.CROP_SIZE, 3)
    if images.ndim != 4 or images.shape[1:] != expected or images.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 [B, {expected[0]}, {expected[1]}, 3], got "
                         f"{images.dtype} {list(images.shape)}")
    return images


class Predictor:
    """Runs the networks (Keras models or a SavedModel) and maps joints back to the images.

    Args:
      model: the fitting network (`networks.NBFModel`), or None with `saved_model`.
      segmenter: stage 1, a Keras model float [B, S, S, 3] (minus the ImageNet
        mean) -> logits [B, S, S, 13], or None (only `fit`).
      saved_model: a SavedModel loaded from `nbf-export` instead of the models.
    """

    def __init__(self, model=None, segmenter=None, saved_model=None):
        if (model is None) == (saved_model is None):
            raise ValueError("Predictor: give either the fitting model or a saved_model")
        self._saved_model = saved_model
        if saved_model is not None:
            self.faces = saved_model.faces.numpy()
            self.has_segmenter = hasattr(saved_model, "segment_fit")
            # Exports made before the input type was stored read part maps.
            stored = getattr(saved_model, "input_type", None)
            self.input_type = stored.numpy().decode() if stored is not None else "parts12"
        else:
            self.faces = np.asarray(model.smpl.body_model.faces)
            self.has_segmenter = segmenter is not None
            self.input_type = model.options.input_type
            functions = {
                "fit": lambda maps, vertices: graph.fit(model, maps, vertices),
                "segment_fit": lambda images, vertices: graph.segment_fit(
                    segmenter, model, images, vertices),
                "keypoints_fit": lambda landmarks, vertices: graph.keypoints_fit(
                    model, landmarks, vertices)}
            self._functions = {name: tf.function(function, autograph=False)
                               for name, function in functions.items()}

    @classmethod
    def from_runs(cls, fitting_run, segmentation_run=None, body_model=None):
        """From run directories; `body_model` overrides the fitting run's (same arrays)."""
        segmenter = load_segmentation_run(segmentation_run) if segmentation_run else None
        return cls(load_fitting_run(fitting_run, body_model), segmenter)

    @classmethod
    def from_saved_model(cls, path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path}: no SavedModel (saved_model.pb); write one with "
                                    "nbf-export")
        return cls(saved_model=tf.saved_model.load(path))

    def _run(self, name, inputs, return_vertices):
        if self._saved_model is not None:
            outputs = getattr(self._saved_model, name)(tf.constant(inputs))
            if not return_vertices:
                outputs = {k: v for k, v in outputs.items() if k != "vertices"}
        else:
            outputs = self._functions[name](tf.constant(inputs), bool(return_vertices))
        return {key: value.numpy() for key, value in outputs.items()}

    def check_mode(self, mode):
        """ValueError unless the fitting network reads what `mode` gives it."""
        needed = "joints14" if mode == "keypoints_fit" else "parts12"
        if self.input_type != needed:
            use = ("keypoints_fit (--mode=keypoints_fit)" if self.input_type == "joints14"
                   else "fit or segment_fit" if self.input_type == "parts12" else "no mode")
            raise ValueError(f"{mode} needs a fitting run that reads {needed}; this one reads "
                             f"{self.input_type}: use {use}")

    def fit(self, part_maps, transforms=None, return_vertices=False):
        """Stage 2 on part maps [B, n, n, 3] (colours) or [B, n, n] (labels), uint8.

        transforms: per map, its `CropTransform` (None: the map is the original).
        """
        self.check_mode("fit")
        maps = _as_colour_maps(part_maps)
        size = maps.shape[1]
        if transforms is None:
            own = crops.CropTransform(constants.CROP_SIZE / size, size / 2.0, size / 2.0)
            transforms = [own] * len(maps)
        fit_maps = handover.resize_nearest(maps, constants.FIT_SIZE)
        return _with_original_joints(self._run("fit", fit_maps, return_vertices), transforms)

    def segment_fit(self, images, transforms=None, return_vertices=False):
        """Both stages on crops uint8 [B, 512, 512, 3] (see `crops.crop_image`).

        transforms: per crop, its `CropTransform` (None: the crops are the originals).
        """
        self.check_mode("segment_fit")
        if not self.has_segmenter:
            raise ValueError("segment_fit needs a segmenter (a segmentation run, or a "
                             "SavedModel exported with one)")
        images = _check_crops(images)
        transforms = transforms or [crops.CropTransform.identity()] * len(images)
        return _with_original_joints(self._run("segment_fit", images, return_vertices),
                                     transforms)

    def keypoints_fit(self, landmarks, transforms=None, return_vertices=False,
                      min_confidence=keypoints.MIN_CONFIDENCE):
        """Stage 2 on detected landmarks [B, 14, 3] (x, y, confidence) in the 512 crops' pixels.

        Landmarks under `min_confidence` count as not detected and are not
        drawn. transforms: per crop, its `CropTransform` (None: the crops are
        the originals).
        """
        self.check_mode("keypoints_fit")
        landmarks = np.asarray(landmarks, np.float64)
        if landmarks.ndim != 3 or landmarks.shape[1:] != (14, 3):
            raise ValueError("landmarks must be [B, 14, 3] (x, y, confidence) in the crop's "
                             f"pixels, got shape {list(landmarks.shape)}")
        detected = landmarks[..., 2:] >= min_confidence
        points = np.where(detected, landmarks[..., :2], np.nan).astype(np.float32)
        transforms = transforms or [crops.CropTransform.identity()] * len(points)
        return _with_original_joints(self._run("keypoints_fit", points, return_vertices),
                                     transforms)


def _with_original_joints(result, transforms):
    if len(transforms) != len(result["betas"]):
        raise ValueError(f"got {len(transforms)} crop transforms for {len(result['betas'])} "
                         "inputs")
    result["smpl_joints_2d_original"] = np.stack([
        transform.to_original(joints_2d) for transform, joints_2d in
        zip(transforms, result["smpl_joints_2d"])]).astype(np.float32)
    result["crop_transform"] = np.stack([t.as_array() for t in transforms])
    return result
