"""Input encodings of the paper's Table 1: part segmentations of several granularities
and joint maps, with their colour tables and left/right remaps.

Every segmentation is a grouping of the 24 SMPL parts. A 24-part label map
holds 0 for the background and k + 1 for SMPL part k; the coarser
granularities group it as follows (label values, 0 is always background):

  24  SMPL's skinning parts (joint order + 1)
  12  NBF's parts (docs/data.md, `constants.PART_COLOURS`)
   6  1 head + neck, 2 torso, 3 left arm, 4 right arm, 5 left leg, 6 right leg
   3  1 head, neck and torso, 2 arms, 3 legs
   1  the silhouette

Joint maps draw each 2D joint as a disc of radius 3 px (at 224) in its own
colour, on black.
"""
import colorsys

import numpy as np

from neural_body_fitting import constants

GRANULARITIES = (1, 3, 6, 12, 24)
INPUT_TYPES = ("rgb", "parts1", "parts3", "parts6", "parts12", "parts24", "joints14",
               "joints24")

# 6-part label of every 12-part label (index = 12-part label): neck joins the
# head, the torso halves join, each arm's and each leg's two segments join.
_PART12_TO_6 = np.array([0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6])
_PART6_TO_3 = np.array([0, 1, 1, 2, 2, 3, 3])


def _hue_table(count):
    """`count` + 1 colours: black, then fully saturated hues in equal steps."""
    hues = [colorsys.hsv_to_rgb(k / count, 1.0, 1.0) for k in range(count)]
    return np.array([(0, 0, 0)] + [tuple(round(255 * c) for c in rgb) for rgb in hues], np.uint8)


_COLOURS = {
    1: np.array([(0, 0, 0), (255, 255, 255)], np.uint8),
    3: constants.PART_COLOURS[[0, 2, 3, 5]],
    6: constants.PART_COLOURS[[0, 1, 2, 3, 4, 5, 6]],
    12: constants.PART_COLOURS,
    24: _hue_table(24),
}
_MIRROR = {
    1: np.array([0, 1]),
    3: np.array([0, 1, 2, 3]),
    6: np.array([0, 1, 2, 4, 3, 6, 5]),
    12: constants.MIRROR_PARTS,
    24: np.concatenate([[0], constants.MIRROR_JOINTS + 1]),
}


def _check_granularity(granularity):
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity}")


def granularity_of_classes(num_classes):
    """Parts of a segmenter with `num_classes` outputs, background included: 13 -> 12."""
    granularity = num_classes - 1
    if granularity not in GRANULARITIES:
        raise ValueError(f"num_classes must be one more than a granularity of {GRANULARITIES}, "
                         f"got {num_classes}")
    return granularity


def part_lookup(granularity):
    """[25] uint8 table mapping 24-part labels (0..24) to `granularity`'s labels."""
    _check_granularity(granularity)
    part12 = np.concatenate([[0], constants.SMPL24_TO_PART12])
    table = {24: np.arange(25), 12: part12, 6: _PART12_TO_6[part12],
             3: _PART6_TO_3[_PART12_TO_6[part12]], 1: (part12 > 0).astype(int)}[granularity]
    return table.astype(np.uint8)


def colour_table(granularity):
    """[K + 1, 3] uint8 RGB colour of every label of `granularity`."""
    _check_granularity(granularity)
    return _COLOURS[granularity]


def mirror_labels(granularity):
    """[K + 1] the label a left/right mirror maps every label to."""
    _check_granularity(granularity)
    return _MIRROR[granularity]


def encode_labels(labels24, granularity):
    """24-part label map [H, W] -> `granularity`'s colour map uint8 [H, W, 3]."""
    return colour_table(granularity)[part_lookup(granularity)[np.asarray(labels24)]]


def joint_colours(num_joints):
    """[num_joints, 3] uint8 colour of each joint's disc."""
    return _hue_table(num_joints)[1:]


def draw_joint_map(joints_2d, size=constants.FIT_SIZE, radius=3):
    """Joint map: discs of radius `radius` px at each 2D joint [L, 2] (pixels) on black.

    A pixel belongs to a disc when its centre (col + 0.5, row + 0.5) lies
    within `radius` of the joint; a later joint covers an earlier one where
    discs overlap. Returns uint8 [size, size, 3].
    """
    joints_2d = np.asarray(joints_2d, np.float64)
    centres = np.arange(size) + 0.5
    image = np.zeros((size, size, 3), np.uint8)
    for (u, v), colour in zip(joints_2d, joint_colours(len(joints_2d))):
        inside = (centres[None, :] - u) ** 2 + (centres[:, None] - v) ** 2 <= radius ** 2
        image[inside] = colour
    return image


def parse_input_type(input_type):
    """'parts12' -> ('parts', 12), 'joints14' -> ('joints', 14), 'rgb' -> ('rgb', None)."""
    if input_type not in INPUT_TYPES:
        raise ValueError(f"input_type must be one of {INPUT_TYPES}, got '{input_type}'")
    if input_type == "rgb":
        return "rgb", None
    kind = "parts" if input_type.startswith("parts") else "joints"
    return kind, int(input_type[len(kind):])
