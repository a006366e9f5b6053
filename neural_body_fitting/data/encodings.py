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
colour, on black. Every encoding the fitting network sees becomes its input
by `scale_input` (x * 2/255 - 1, into [-1, 1]).

Each encoding has a NumPy function (data preparation, serving, checks) and,
where the tf.data pipeline or a graph needs it, a TensorFlow twin named
`*_tf` that gives the same values. The twins import TensorFlow when called,
so that this module stays importable without it (datasets, body-model I/O).
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
    return colourise(part_lookup(granularity)[np.asarray(labels24)], colour_table(granularity))


def encode_labels_tf(labels24, granularity):
    """TF `encode_labels`: 24-part labels int [..., H, W] -> colour maps uint8 [..., H, W, 3]."""
    import tensorflow as tf

    lookup = tf.constant(part_lookup(granularity), tf.int32)
    return colourise_tf(tf.gather(lookup, tf.cast(labels24, tf.int32)), colour_table(granularity))


def colourise(label_map, colours=constants.PART_COLOURS):
    """Label map [H, W] -> colour-coded map uint8 [H, W, 3] with the table `colours` [K, 3]."""
    label_map = np.asarray(label_map)
    colours = np.asarray(colours, np.uint8)
    if label_map.max(initial=0) >= len(colours):
        raise ValueError(f"colourise: label {label_map.max()} has no colour in a table of "
                         f"{len(colours)}")
    return colours[label_map]


def colourise_tf(labels, colours=constants.PART_COLOURS):
    """TF `colourise`: labels int [..., H, W] -> colour maps uint8 [..., H, W, 3].

    A label outside the table fails in tf.gather on the CPU (on a GPU it reads
    as black): graphs cannot raise `colourise`'s ValueError cheaply.
    """
    import tensorflow as tf

    return tf.gather(tf.constant(np.asarray(colours, np.uint8)), labels)


def colour_codes(colours):
    """uint8-valued RGB [..., 3] -> one integer per colour int64 [...], to compare
    colours in one step (0xRRGGBB)."""
    colours = np.asarray(colours, np.int64)
    return (colours[..., 0] << 16) | (colours[..., 1] << 8) | colours[..., 2]


def colour_codes_tf(colours):
    """TF `colour_codes`: uint8-valued RGB [..., 3] -> int32 [...] (24 bits fit)."""
    import tensorflow as tf

    colours = tf.cast(colours, tf.int32)
    return colours[..., 0] * 65536 + colours[..., 1] * 256 + colours[..., 2]


def decolourise(colour_map, colours=constants.PART_COLOURS, strict=True):
    """Colour-coded map uint8 [H, W, 3] -> labels uint8 [H, W] (the nearest table colour).

    With `strict`, a pixel whose colour is not exactly in the table raises a
    ValueError that says how many pixels are off.
    """
    # Exact colours by lookup (a search in the sorted table codes); only the
    # pixels off the table need distances. Ties go to the first table entry.
    table = np.asarray(colours, np.int64)
    table_codes = colour_codes(table)
    order = np.argsort(table_codes, kind="stable")
    codes = colour_codes(colour_map)
    position = np.minimum(np.searchsorted(table_codes[order], codes), len(table) - 1)
    labels = order[position]
    off = table_codes[labels] != codes
    if off.any():
        if strict:
            raise ValueError(f"decolourise: {int(off.sum())} pixels have colours outside the "
                             "table")
        distance = np.square(np.asarray(colour_map, np.int64)[off][:, None] - table).sum(-1)
        labels[off] = np.argmin(distance, axis=-1)
    return labels.astype(np.uint8)


def decolourise_tf(colour_map, colours=constants.PART_COLOURS):
    """TF `decolourise` of exact colours: uint8 [..., H, W, 3] -> labels int64 [..., H, W].

    Only exact table colours are recognised; any other colour reads as label
    0 (the background) rather than the nearest colour: the maps a graph sees
    are made from the table, and a distance search would cost K times more.
    """
    import tensorflow as tf

    table_codes = tf.constant(colour_codes(colours).astype(np.int32))
    matches = tf.cast(colour_codes_tf(colour_map)[..., None] == table_codes, tf.int32)
    return tf.argmax(matches, axis=-1)


def joint_colours(num_joints):
    """[num_joints, 3] uint8 colour of each joint's disc."""
    return _hue_table(num_joints)[1:]


def landmark_mirror(num_landmarks):
    """[L] int64: the landmark each one becomes under a left/right mirror.

    14: the original's landmarks (`constants.LANDMARK14_NAMES`); 24: SMPL's joints.
    """
    mirrors = {14: constants.MIRROR_LANDMARKS14, 24: constants.MIRROR_JOINTS}
    if num_landmarks not in mirrors:
        raise ValueError(f"landmark sets have 14 or 24 landmarks, got {num_landmarks}")
    return mirrors[num_landmarks]


def draw_joint_map(joints_2d, size=constants.FIT_SIZE, radius=3):
    """Joint map: discs of radius `radius` px at each 2D joint [L, 2] (pixels) on black.

    A pixel belongs to a disc when its centre (col + 0.5, row + 0.5) lies
    within `radius` of the joint; a later joint covers an earlier one where
    discs overlap. A joint at NaN (not detected) is not drawn. Returns uint8
    [size, size, 3].
    """
    joints_2d = np.asarray(joints_2d, np.float64)
    centres = np.arange(size) + 0.5
    image = np.zeros((size, size, 3), np.uint8)
    for (u, v), colour in zip(joints_2d, joint_colours(len(joints_2d))):
        inside = (centres[None, :] - u) ** 2 + (centres[:, None] - v) ** 2 <= radius ** 2
        image[inside] = colour
    return image


def draw_joint_map_tf(joints_2d, size=constants.FIT_SIZE, radius=3):
    """TF `draw_joint_map`: joints [..., L, 2] (pixels, L known) -> uint8 [..., size, size, 3].

    Leading dimensions are a batch of maps.
    """
    import tensorflow as tf

    joints_2d = tf.cast(joints_2d, tf.float32)
    num_joints = joints_2d.shape[-2]
    colours = tf.constant(joint_colours(num_joints), tf.float32)
    centres = tf.range(size, dtype=tf.float32) + 0.5
    dx = centres[None, :] - joints_2d[..., 0, None, None]  # [..., L, 1, W]
    dy = centres[:, None] - joints_2d[..., 1, None, None]  # [..., L, H, 1]
    # NaN compares false: an undetected joint covers no pixel.
    inside = tf.cast(dx * dx + dy * dy <= radius * radius, tf.float32)  # [..., L, H, W]
    # The last joint drawn wins where discs overlap, as in the NumPy drawing.
    order = tf.range(1, num_joints + 1, dtype=tf.float32)[:, None, None]
    winner = tf.argmax(inside * order, axis=-3)
    image = tf.gather(colours, winner) * tf.reduce_max(inside, axis=-3)[..., None]
    return tf.cast(image, tf.uint8)


def scale_input(image):
    """The fitting network's input scaling: uint8-valued [...] -> float32 [...] in [-1, 1]."""
    return np.asarray(image, np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)


def scale_input_tf(image):
    """TF `scale_input` (x * 2/255 - 1 in float32, the same values)."""
    import tensorflow as tf

    return tf.cast(image, tf.float32) * (2.0 / 255.0) - 1.0


def parse_input_type(input_type):
    """'parts12' -> ('parts', 12), 'joints14' -> ('joints', 14), 'rgb' -> ('rgb', None)."""
    if input_type not in INPUT_TYPES:
        raise ValueError(f"input_type must be one of {INPUT_TYPES}, got '{input_type}'")
    if input_type == "rgb":
        return "rgb", None
    kind = "parts" if input_type.startswith("parts") else "joints"
    return kind, int(input_type[len(kind):])
