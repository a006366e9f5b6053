"""The camera of the original NBF: a pinhole at the origin (OpenCV convention).

f = 5000 px at 512 (2187.5 px at 224), principal point at the crop centre;
see `constants.focal_length` and `docs/method.md`.
"""
import tensorflow as tf

from neural_body_fitting import constants


def project_points(points, resolution=constants.FIT_SIZE, focal_length=None,
                   principal_point=None):
    """Perspective projection with the original NBF camera (OpenCV convention).

    The camera sits at the origin looking along +z; image x goes right and y
    down: u = f X / Z + c_x, v = f Y / Z + c_y.

    Args:
      points: [..., N, 3] points in camera coordinates (translation applied).
      resolution: square crop size in pixels; sets the default focal length
        (5000 px at 512, 2187.5 at 224) and principal point (the crop centre).
      focal_length, principal_point: overrides (scalar, (c_x, c_y)).
    Returns:
      [..., N, 2] pixel coordinates.
    """
    points = tf.convert_to_tensor(points)
    focal = constants.focal_length(resolution) if focal_length is None else focal_length
    centre = constants.principal_point(resolution) if principal_point is None else principal_point
    xy = points[..., :2] / points[..., 2:3]
    return xy * tf.cast(focal, points.dtype) + tf.constant(centre, points.dtype)


def normalise_pixels(pixels, resolution=constants.FIT_SIZE):
    """Pixel coordinates [..., 2] -> the original 2D-loss coordinates x / (res/2) - 1."""
    return pixels / (resolution / 2.0) - 1.0
