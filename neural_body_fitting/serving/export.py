"""Exporting the whole inference as a SavedModel (and the fitting network as TFLite).

Signatures (outputs as in `serving.graph`, vertices always included):

  fit           part_maps uint8 [B, 224, 224, 3], 12-part colour maps
  segment_fit   images uint8 [B, 512, 512, 3], person crops (only with a segmenter)
  serve_bytes   encoded PNG/JPEG bytes [B] string: crops through both stages
                when there is a segmenter, else colour-coded part maps through
                `fit`; other sizes are resized (bilinear for crops, nearest for maps)

for a fitting network that reads part maps (`parts12`); for one that reads
joint maps (`joints14`) instead:

  keypoints_fit landmarks float32 [B, 14, 2] in the 512 crop's pixels, NaN
                where not detected (`Predictor.keypoints_fit` turns confidences
                into NaN)

`input_type` (string) says which.

The SMPL layer is inside, with the body model's arrays as weights: an
export made with the real SMPL model carries SMPL's data and falls under its
licence. `faces` (int32 [F, 3]) is stored beside the functions.
"""
import os
import shutil
import uuid

import tensorflow as tf

from neural_body_fitting import constants
from neural_body_fitting.serving import graph
from neural_body_fitting.utils import files


def _decode(encoded, size, method):
    """One encoded image (string) -> uint8 [size, size, 3]."""
    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.image.resize(image, [size, size], method=method)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


class InferenceModule(tf.Module):
    """The networks, SMPL and the hand-over between them as a tf.Module to save."""

    def __init__(self, model, segmenter=None):
        super().__init__()
        self.model = model
        self.segmenter = segmenter
        self.faces = tf.Variable(model.smpl.body_model.faces.astype("int32"), trainable=False,
                                 name="faces")
        input_type = model.options.input_type
        self.input_type = tf.Variable(input_type, trainable=False, name="input_type")
        if input_type == "joints14":
            if segmenter is not None:
                raise ValueError("a fitting run that reads joints14 takes detected landmarks, "
                                 "not a segmenter's part maps: export it without one")
            self.keypoints_fit = tf.function(
                lambda landmarks: graph.keypoints_fit(model, landmarks, True),
                input_signature=[tf.TensorSpec([None, 14, 2], tf.float32, name="landmarks")],
                autograph=False)
            self._signature_names = ("keypoints_fit",)
            return
        if input_type != "parts12":
            raise ValueError(f"the fitting run reads {input_type}; the inference takes part "
                             "maps (parts12) or detected landmarks (joints14)")
        fit_size, crop_size = constants.FIT_SIZE, constants.CROP_SIZE
        self.fit = tf.function(lambda part_maps: graph.fit(model, part_maps, True),
                               input_signature=[tf.TensorSpec([None, fit_size, fit_size, 3],
                                                              tf.uint8, name="part_maps")],
                               autograph=False)
        if segmenter is not None:
            self.segment_fit = tf.function(
                lambda images: graph.segment_fit(segmenter, model, images, True),
                input_signature=[tf.TensorSpec([None, crop_size, crop_size, 3], tf.uint8,
                                               name="images")], autograph=False)
        self.serve_bytes = tf.function(self._serve_bytes, input_signature=[
            tf.TensorSpec([None], tf.string, name="encoded")], autograph=False)
        self._signature_names = (("fit", "segment_fit", "serve_bytes") if segmenter is not None
                                 else ("fit", "serve_bytes"))

    def _serve_bytes(self, encoded):
        if self.segmenter is not None:
            images = tf.map_fn(lambda e: _decode(e, constants.CROP_SIZE, "bilinear"), encoded,
                               fn_output_signature=tf.uint8)
            return self.segment_fit(images)
        maps = tf.map_fn(lambda e: _decode(e, constants.FIT_SIZE, "nearest"), encoded,
                         fn_output_signature=tf.uint8)
        return self.fit(maps)

    def signatures(self):
        return {name: getattr(self, name).get_concrete_function()
                for name in self._signature_names}


def export_saved_model(path, model, segmenter=None):
    """Writes the SavedModel of `InferenceModule(model, segmenter)` to the folder `path`.

    The folder appears complete or not at all (written beside it, then renamed).
    """
    module = InferenceModule(model, segmenter)
    path = os.path.abspath(path)
    tmp_path = f"{path}.tmp_{uuid.uuid4().hex}"
    try:
        tf.saved_model.save(module, tmp_path, signatures=module.signatures())
        if os.path.exists(path):  # Replaced only once the new export is complete.
            old_path = f"{tmp_path}_old"
            os.replace(path, old_path)
            os.replace(tmp_path, path)
            shutil.rmtree(old_path)
        else:
            os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)
    return path


class TFLiteConversionError(RuntimeError):
    """The TFLite converter refused the network; the message holds its reasons."""


def export_tflite(path, model):
    """Writes the fitting network (input [1, s, s, 3] in [-1, 1] -> betas, pose,
    translation, smpl_joints) as a TFLite flatbuffer.

    With TF 2.21 a network with `use_svd` (the default) does not convert:
    `tf.Svd` is neither a TFLite builtin nor an allowed TF ("flex") op.
    Raises TFLiteConversionError with the converter's error lines.
    """
    size = model.options.input_size

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)],
                 autograph=False)
    def network(inputs):
        outputs = graph.body_outputs(model, inputs)
        return {key: outputs[key] for key in ("betas", "pose", "translation", "smpl_joints")}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [network.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    try:
        flatbuffer = converter.convert()
    except Exception as error:  # The converter raises its own ConverterError and others.
        # Its message embeds the whole MLIR module; the "error:" lines say why.
        reasons = [line.split("error:", 1)[1].strip() for line in str(error).splitlines()
                   if "error:" in line]
        raise TFLiteConversionError("; ".join(reasons) or str(error)[:500]) from error
    return files.atomic_write(path, flatbuffer)

