"""Inference as TensorFlow functions: the same graph for the eager Predictor
and for the exported SavedModel.

Every function returns a dict of tensors, per person:

  betas [B, 10]            shape coefficients
  pose [B, 72]             axis-angle of the *relative* rotations (SMPL's pose vector)
  rotations [B, 24, 3, 3]  the relative rotation matrices
  translation [B, 3]
  smpl_joints [B, 24, 3]     posed SMPL joints, camera coordinates
  smpl_joints_2d [B, 24, 2]  their projection into the 512 crop (the original camera)
  part_labels [B, n, n]    uint8: stage 1's labels (segment_fit, n = 512) or the
                           fitting input's (fit, n = 224)
  joint_map [B, 224, 224, 3]  uint8: the drawn landmarks (keypoints_fit, instead
                           of part_labels)
  vertices [B, V, 3]       with `return_vertices`
"""
import tensorflow as tf

from neural_body_fitting import constants, geometry
from neural_body_fitting.data import encodings
from neural_body_fitting.serving import handover


def body_outputs(model, inputs, return_vertices=False):
    """The fitting network on its input [B, s, s, 3] in [-1, 1] -> the outputs above."""
    outputs = model(inputs, training=False, return_vertices=return_vertices)
    rotations = outputs["rotations"]
    if not model.options.use_svd:
        # Unprojected matrices are not rotations; axis-angle needs the nearest one.
        rotations = geometry.project_to_so3(rotations)
    if model.options.use_absrot:
        rotations = geometry.absolute_to_relative(rotations)
    result = {
        "betas": outputs["betas"],
        "pose": tf.reshape(geometry.matrix_to_axis_angle(rotations),
                           [-1, 3 * constants.NUM_JOINTS]),
        "rotations": rotations,
        "translation": outputs["translation"],
        "smpl_joints": outputs["smpl_joints"],
        "smpl_joints_2d": geometry.project_points(outputs["smpl_joints"], constants.CROP_SIZE),
    }
    if return_vertices:
        result["vertices"] = outputs["vertices"]
    return result


def fit(model, colour_maps, return_vertices=False):
    """Stage 2 on 12-part colour maps uint8 [B, n, n, 3] (any square n)."""
    fit_maps = handover.resize_nearest(colour_maps, constants.FIT_SIZE)
    inputs = handover.fitting_input(fit_maps, model.options.input_size)
    result = body_outputs(model, inputs, return_vertices)
    result["part_labels"] = tf.cast(encodings.decolourise_tf(fit_maps), tf.uint8)
    return result


def keypoints_fit(model, landmarks, return_vertices=False):
    """Stage 2 on landmarks [B, L, 2] in the 512 crop's pixels (NaN: not detected).

    They are drawn at 224 exactly as training draws a `joints<L>` input
    (`encodings.draw_joint_map_tf`, undetected ones left out), then fitted.
    """
    scale = constants.FIT_SIZE / constants.CROP_SIZE
    joint_map = encodings.draw_joint_map_tf(tf.cast(landmarks, tf.float32) * scale)
    result = body_outputs(model, handover.fitting_input(joint_map, model.options.input_size),
                          return_vertices)
    result["joint_map"] = joint_map
    return result


def segmenter_input_size(segmenter):
    """The square input side a Keras segmenter was built for (512 if it does not say)."""
    inputs = getattr(segmenter, "inputs", None)
    return (inputs[0].shape[1] if inputs and inputs[0].shape[1] else constants.CROP_SIZE)


def segment(segmenter, images):
    """Stage 1: uint8 crops [B, 512, 512, 3] -> labels int32 [B, 512, 512].

    A segmenter built for another size sees the crops resized bilinearly;
    its logits come back to 512 as in the original.
    """
    centred = tf.cast(images, tf.float32) - tf.constant(constants.IMAGENET_MEAN_RGB, tf.float32)
    size = segmenter_input_size(segmenter)
    if size != constants.CROP_SIZE:
        centred = tf.image.resize(centred, [size, size], method="bilinear")
    logits = segmenter(centred, training=False)
    return handover.labels_from_logits(tf.cast(logits, tf.float32), constants.CROP_SIZE)


def segment_fit(segmenter, model, images, return_vertices=False):
    """Both stages on uint8 crops [B, 512, 512, 3]: labels -> colours -> thumbnail -> fit."""
    labels = segment(segmenter, images)
    result = fit(model, encodings.colourise_tf(labels), return_vertices)
    result["part_labels"] = tf.cast(labels, tf.uint8)
    return result
