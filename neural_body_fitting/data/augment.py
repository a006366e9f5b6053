"""Online augmentation of images with label maps and 2D joints, in core TensorFlow.

One random similarity transform per sample (horizontal flip, scale, rotation
about the centre, and a crop offset) is applied to the image (bilinear) and
the label map (nearest neighbour, so labels stay labels); a flip also remaps
the labels (`encodings.mirror_labels`) and swaps left/right joints. All
randomness is stateless and comes from a seed tensor, so it is reproducible
and works inside `tf.data` maps.

Coordinates: pixel (col, row) has its centre at (col + 0.5, row + 0.5), the
convention of the projected 2D joints; `ImageProjectiveTransformV3` works on
pixel centres at integers, which the matrices below account for.
"""
import numpy as np
import tensorflow as tf

from neural_body_fitting.data import encodings


def _similarity(flip, scale, angle, centre_in, centre_out):
    """3x3 matrix mapping output continuous coordinates to input ones.

    x_in = centre_in + F R(-angle) (x_out - centre_out) / scale, with F the
    horizontal flip when `flip` is 1.
    """
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    sign = 1.0 - 2.0 * flip
    zero, one = tf.zeros_like(cos), tf.ones_like(cos)
    linear = tf.stack([tf.stack([sign * cos, sign * sin]), tf.stack([-sin, cos])])
    offset = centre_in - tf.linalg.matvec(linear, centre_out)
    return tf.stack([tf.concat([linear[0], offset[:1]], 0), tf.concat([linear[1], offset[1:]], 0),
                     tf.stack([zero, zero, one])])


def _warp(image, matrix, output_size, interpolation):
    """Warps [H, W, C] with a continuous-coordinate output->input matrix."""
    # Integer pixel centres: x_int = x_cont - 0.5 on both sides.
    shift = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    unshift = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    integer = unshift @ matrix @ shift
    transform = tf.reshape(integer, [-1])[:8][None]
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform, output_shape=output_size,
        interpolation=interpolation, fill_mode="CONSTANT", fill_value=0.0)[0]


def random_transform(seed, image_size, output_size, flip_probability=0.5,
                     scale_range=(0.9, 1.1), max_rotation_degrees=45.0):
    """(matrix [3, 3] output->input in continuous pixels, flipped bool) for one sample.

    The crop of `output_size` is placed uniformly where it fits in the scaled
    image (centred when it does not).
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    flip = tf.cast(tf.random.stateless_uniform([], seeds[0]) < flip_probability, tf.float32)
    scale = tf.random.stateless_uniform([], seeds[1], *scale_range)
    angle = tf.random.stateless_uniform([], seeds[2], -1.0, 1.0) * np.radians(
        max_rotation_degrees)
    image_size = tf.cast(image_size, tf.float32)
    output = tf.cast(output_size, tf.float32)
    slack = tf.maximum(image_size * scale - output, 0.0) / 2.0
    jitter = tf.random.stateless_uniform([2], seeds[3], -1.0, 1.0) * slack
    centre_in = image_size[::-1] / 2.0  # (x, y)
    centre_out = output[::-1] / 2.0 + jitter[::-1]
    return _similarity(flip, scale, angle, centre_in, centre_out), flip > 0.5


def augment(seed, image, labels=None, joints_2d=None, granularity=12, output_size=None,
            joint_mirror=None, **ranges):
    """Applies one random transform to an image and its label map and joints.

    Args:
      seed: int32 [2] stateless seed.
      image: [H, W, C] image (any numeric dtype; returned as float32).
      labels: optional [H, W] label map of `granularity` (returned int32).
      joints_2d: optional [L, 2] pixel coordinates (returned transformed).
      output_size: (height, width) of the crop; default the input size.
      joint_mirror: [L] permutation swapping left/right joints on a flip
        (default for L = 14 or 24: the original's landmarks / SMPL joints).
      **ranges: flip_probability, scale_range, max_rotation_degrees.
    Returns:
      dict with 'image', and 'labels' / 'joints_2d' when given.
    """
    image = tf.convert_to_tensor(image)
    image_size = tf.shape(image)[:2]
    output_size = image_size if output_size is None else tf.constant(output_size, tf.int32)
    matrix, flipped = random_transform(seed, image_size, output_size, **ranges)
    result = {"image": _warp(tf.cast(image, tf.float32), matrix, output_size, "BILINEAR")}
    if labels is not None:
        warped = _warp(tf.cast(labels, tf.float32)[..., None], matrix, output_size, "NEAREST")
        warped = tf.cast(tf.round(warped[..., 0]), tf.int32)
        mirror = tf.constant(encodings.mirror_labels(granularity), tf.int32)
        result["labels"] = tf.where(flipped, tf.gather(mirror, warped), warped)
    if joints_2d is not None:
        joints_2d = tf.convert_to_tensor(joints_2d, tf.float32)
        inverse = tf.linalg.inv(matrix)
        homogeneous = tf.concat([joints_2d, tf.ones_like(joints_2d[:, :1])], axis=1)
        moved = tf.linalg.matvec(inverse[None], homogeneous)[:, :2]
        if joint_mirror is None:
            joint_mirror = encodings.landmark_mirror(int(joints_2d.shape[0]))
        result["joints_2d"] = tf.where(flipped, tf.gather(moved, joint_mirror), moved)
    return result
