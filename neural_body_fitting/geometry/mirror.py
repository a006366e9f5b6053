"""Left-right mirroring of SMPL parameters and points.

The mirror plane is x = 0 (the body's left/right axis, SMPL's +x is the body's
left); left and right joints swap (`constants.MIRROR_JOINTS`).
"""
import numpy as np
import tensorflow as tf

from neural_body_fitting import constants

_MIRROR = np.diag([-1.0, 1.0, 1.0])


def mirror_rotations(rotations):
    """Left-right mirror of SMPL rotations [..., 24, 3, 3] (relative or absolute).

    Swaps left and right joints and conjugates by the reflection S = diag(-1, 1, 1)
    (x -> -x, the body's left/right axis): R' = S R S.
    """
    rotations = tf.convert_to_tensor(rotations)
    swapped = tf.gather(rotations, constants.MIRROR_JOINTS, axis=-3)
    return swapped * tf.constant(np.outer(np.diag(_MIRROR), np.diag(_MIRROR)), rotations.dtype)


def mirror_axis_angle(pose):
    """Left-right mirror of an axis-angle pose [..., 72]: swap joints, negate y and z."""
    pose = tf.convert_to_tensor(pose)
    per_joint = tf.reshape(pose, tf.concat([tf.shape(pose)[:-1], [constants.NUM_JOINTS, 3]], 0))
    swapped = tf.gather(per_joint, constants.MIRROR_JOINTS, axis=-2)
    return tf.reshape(swapped * tf.constant([1.0, -1.0, -1.0], pose.dtype), tf.shape(pose))


def mirror_points(points):
    """Mirror of 3D points [..., 3] in the plane x = 0."""
    points = tf.convert_to_tensor(points)
    return points * tf.constant([-1.0, 1.0, 1.0], points.dtype)
