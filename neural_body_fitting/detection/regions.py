"""Where the two models look: the detector's letterboxed square, and the landmark
model's rotated region of interest (ROI) around one person, with the warps between
them and the image.

Coordinates are continuous pixels: the image spans [0, W] x [0, H] and pixel (i, j)
covers [i, i + 1] x [j, j + 1], so its centre is (i + 0.5, j + 0.5). Every mapping is
a 2 x 3 affine matrix in these coordinates; `index_matrix` turns one into OpenCV's
convention (pixel centres at integers) for cv2.warpAffine.

ROI settings from MediaPipe's `pose_detection_to_roi.pbtxt` (AlignmentPointsRects,
RectTransformation): the centre is keypoint 0 (mid-hip), the side is twice the
distance to keypoint 1 times 1.25 (a square), and the rotation turns the direction
from keypoint 0 to keypoint 1 to "up" (target angle 90 degrees); the landmark model's
input is 256 x 256 with values in [0, 1] (`pose_landmark_by_roi_cpu.pbtxt`).
"""
import dataclasses
import math

import cv2
import numpy as np

DETECTOR_SIZE = 224
LANDMARK_SIZE = 256
ROI_SCALE = 1.25
TARGET_ANGLE = math.pi / 2


@dataclasses.dataclass(frozen=True)
class Roi:
    """A square region of an image, in pixels: the landmark model's view of one person."""
    centre: tuple  # (x, y).
    size: float  # Side length.
    rotation: float  # Radians, clockwise on the screen (y points down): the ROI's "up"
    # is the image's direction (sin r, -cos r).

    def matrix(self, output_size=LANDMARK_SIZE):
        """[2, 3] ROI pixels (of an `output_size` square) -> image pixels."""
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / output_size
        linear = np.array([[cos * k, -sin * k], [sin * k, cos * k]])
        offset = np.asarray(self.centre) - linear @ np.full(2, output_size / 2)
        return np.concatenate([linear, offset[:, None]], axis=1)


def normalize_angle(angle):
    """`angle` in [-pi, pi)."""
    return (angle + math.pi) % (2 * math.pi) - math.pi


def roi_from_keypoints(centre, scale_point, scale=ROI_SCALE):
    """The ROI of a detection from two of its keypoints in image pixels: `centre`
    (keypoint 0, mid-hip) and `scale_point` (keypoint 1)."""
    (x0, y0), (x1, y1) = centre, scale_point
    size = 2 * math.hypot(x1 - x0, y1 - y0) * scale
    # The image's y points down: the angle of the vector is measured with y flipped.
    rotation = normalize_angle(TARGET_ANGLE - math.atan2(-(y1 - y0), x1 - x0))
    return Roi((float(x0), float(y0)), float(size), float(rotation))


def letterbox_matrix(height, width, output_size=DETECTOR_SIZE):
    """[2, 3] detector-input pixels -> image pixels: the image fitted into a square,
    centred, its aspect ratio kept (the rest is padding)."""
    side = max(height, width)
    k = side / output_size
    return np.array([[k, 0.0, (width - side) / 2], [0.0, k, (height - side) / 2]])


def tiles(height, width, levels=1):
    """[(x0, y0, side)] the squares the detector looks at besides the whole image: at
    level k, squares of the short side / 2 ** k overlapping by half, the last of a row
    or column against the image's edge. The detector finds people whose height is a
    good part of its input: letterboxed whole, a wide frame makes them small."""
    squares = []
    for level in range(levels):
        side = min(height, width) // 2 ** level
        if side < DETECTOR_SIZE // 2:
            break  # Finer squares would only enlarge the image's pixels.
        if level == 0 and height == width:
            continue  # The whole image is this square.
        starts = [_starts(height, side), _starts(width, side)]
        squares += [(x0, y0, side) for y0 in starts[0] for x0 in starts[1]]
    return squares


def _starts(length, side):
    """Offsets of squares of `side` along `length`, overlapping by half, covering it."""
    starts = list(range(0, length - side + 1, max(side // 2, 1)))
    if starts[-1] + side < length:
        starts.append(length - side)
    return starts


def square_box(roi):
    """[4] xmin, ymin, xmax, ymax of the ROI's square before rotation: where the person
    is, comparable between detections made at different scales."""
    half = roi.size / 2
    return np.array([roi.centre[0] - half, roi.centre[1] - half, roi.centre[0] + half,
                     roi.centre[1] + half], np.float32)


def apply(matrix, points):
    """points [..., 2] mapped by a [2, 3] affine matrix."""
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def invert(matrix):
    """The inverse of a [2, 3] affine matrix."""
    linear = np.linalg.inv(matrix[:, :2])
    return np.concatenate([linear, -(linear @ matrix[:, 2])[:, None]], axis=1)


def index_matrix(matrix):
    """`matrix` (continuous pixels -> continuous pixels) for pixel indices, OpenCV's
    convention: a pixel's index is its centre minus 0.5."""
    return np.concatenate([matrix[:, :2], (matrix[:, 2] + matrix[:, :2] @ np.full(2, 0.5)
                                           - 0.5)[:, None]], axis=1)


def warp_from_image(image, to_image, output_size, border=cv2.BORDER_CONSTANT):
    """[S, S, ...] the square that `to_image` ([2, 3], square pixels -> image pixels)
    maps into `image`, sampled bilinearly; outside the image per `border` (zero)."""
    return cv2.warpAffine(image, index_matrix(to_image), (output_size, output_size),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border,
                          borderValue=0)


def warp_to_image(square, to_image, height, width):
    """[H, W] a square map (e.g. the person mask) put back where `to_image` maps it;
    zero outside it."""
    return cv2.warpAffine(square, index_matrix(to_image), (width, height),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def detector_input(image):
    """([1, 224, 224, 3] float32 in [-1, 1], [2, 3] input pixels -> image pixels) of a
    uint8 RGB image: letterboxed, padding black (-1), as the detector was trained."""
    to_image = letterbox_matrix(*image.shape[:2])
    square = warp_from_image(image, to_image, DETECTOR_SIZE)
    return (square.astype(np.float32) / 127.5 - 1.0)[None], to_image


def landmark_input(image, roi):
    """([256, 256, 3] float32 in [0, 1], [2, 3] ROI pixels -> image pixels): the ROI of
    a uint8 RGB image; outside the image the edge pixels repeat (MediaPipe's default)."""
    to_image = roi.matrix(LANDMARK_SIZE)
    square = warp_from_image(image, to_image, LANDMARK_SIZE, border=cv2.BORDER_REPLICATE)
    return square.astype(np.float32) / 255.0, to_image
