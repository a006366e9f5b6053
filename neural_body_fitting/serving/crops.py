"""Cropping a person the way the paper prepared its inputs, and back.

The networks expect a 512 x 512 crop with the person in the middle, about
440 px tall. A person's height and centre come from a box: the bounding box
of their confident 2D keypoints, or a given person box. The crop is a pure
scale and shift of the original image,

  crop = scale * (original - centre) + 256      (continuous pixel coordinates,
                                                 pixel k covers [k, k + 1))

with scale = 440 / box height, so every point maps back exactly through
`CropTransform.to_original`.
"""
import dataclasses

import cv2
import numpy as np

from neural_body_fitting import constants

PERSON_HEIGHT = 440  # Pixels in the 512 crop.
# Shrinking by more than this first averages pixels (cv2.INTER_AREA), since
# warpAffine's bilinear sampling alone would alias.
_AREA_BELOW = 0.5


@dataclasses.dataclass(frozen=True)
class CropTransform:
    """crop = scale * (original - centre) + size / 2, in continuous pixel coordinates."""

    scale: float
    centre_x: float
    centre_y: float
    size: int = constants.CROP_SIZE

    @classmethod
    def identity(cls, size=constants.CROP_SIZE):
        return cls(1.0, size / 2.0, size / 2.0, size)

    def to_crop(self, points):
        """[..., 2] original pixels -> crop pixels."""
        centre = np.array([self.centre_x, self.centre_y])
        return self.scale * (np.asarray(points, np.float64) - centre) + self.size / 2.0

    def to_original(self, points):
        """[..., 2] crop pixels -> original pixels (the inverse of `to_crop`)."""
        centre = np.array([self.centre_x, self.centre_y])
        return (np.asarray(points, np.float64) - self.size / 2.0) / self.scale + centre

    def as_array(self):
        """[4] (scale, centre x, centre y, size), as stored in the outputs."""
        return np.array([self.scale, self.centre_x, self.centre_y, self.size], np.float64)

    @classmethod
    def from_array(cls, row):
        """The transform of an `as_array` row [4]."""
        return cls(*(float(v) for v in row[:3]), int(row[3]))


def transform_for_box(box, size=constants.CROP_SIZE, person_height=PERSON_HEIGHT):
    """The crop of a person box (x0, y0, x1, y1): its centre in the middle, its height 440 px.

    Raises ValueError for a box without height.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if not y1 > y0 or not x1 >= x0:
        raise ValueError(f"person box {[x0, y0, x1, y1]} has no height (need x0 <= x1, y0 < y1)")
    return CropTransform(person_height * size / constants.CROP_SIZE / (y1 - y0),
                         (x0 + x1) / 2.0, (y0 + y1) / 2.0, size)


def box_of_keypoints(keypoints, min_confidence=0.1, min_keypoints=4):
    """The bounding box (x0, y0, x1, y1) of the keypoints [K, 3] (x, y, confidence) to trust.

    Raises ValueError if fewer than `min_keypoints` have `min_confidence`.
    """
    keypoints = np.asarray(keypoints, np.float64).reshape(-1, 3)
    confident = keypoints[keypoints[:, 2] >= min_confidence, :2]
    if len(confident) < min_keypoints:
        raise ValueError(f"only {len(confident)} keypoints with confidence >= {min_confidence} "
                         f"(need {min_keypoints})")
    (x0, y0), (x1, y1) = confident.min(0), confident.max(0)
    return (x0, y0, x1, y1)


def crop_image(image, transform):
    """The crop uint8 [size, size, C] of an image [H, W, C] (zeros outside the image)."""
    scale, source = transform.scale, image
    # A prior area-averaging shrink, composed into the affine map below:
    # OpenCV's resize maps pixel centres, (k + 0.5) -> (k + 0.5) * factor.
    factors = np.ones(2)
    if scale < _AREA_BELOW:
        height, width = image.shape[:2]
        target = (max(1, round(width * scale)), max(1, round(height * scale)))
        source = cv2.resize(image, target, interpolation=cv2.INTER_AREA)
        factors = np.array([target[0] / width, target[1] / height])
    # crop_index + 0.5 = s (original_index + 0.5 - c) + size / 2, per axis.
    s = scale / factors
    centre = np.array([transform.centre_x, transform.centre_y]) * factors
    offset = s * (0.5 - centre) + transform.size / 2.0 - 0.5
    matrix = np.array([[s[0], 0.0, offset[0]], [0.0, s[1], offset[1]]])
    cropped = cv2.warpAffine(source, matrix, (transform.size, transform.size),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cropped.reshape(transform.size, transform.size, *image.shape[2:])
