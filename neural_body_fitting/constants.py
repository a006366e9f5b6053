"""Constants of SMPL and of the original Neural Body Fitting code.

Everything here is a fact of SMPL's format or of the original NBF setup (see
docs/method.md and docs/data.md); code elsewhere imports these names instead of
repeating the numbers.
"""
import numpy as np

# --- SMPL skeleton -----------------------------------------------------------

NUM_JOINTS = 24
NUM_BETAS = 10
NUM_POSE_BLEND = (NUM_JOINTS - 1) * 9  # 207 pose-corrective components.

# Parent of every joint; the root (pelvis) has parent -1.
SMPL_PARENTS = np.array(
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21],
    dtype=np.int64,
)

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)

# Joint that a left/right mirror maps every joint to.
MIRROR_JOINTS = np.array(
    [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22],
    dtype=np.int64,
)

# --- The 14-landmark set of the original (LSP order) --------------------------

# SMPL joints taken as the first 12 landmarks; the last two (neck, head top)
# are mesh vertices of the body model (`BodyModel.landmark_vertex_ids`).
LANDMARK14_JOINTS = np.array([8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20], dtype=np.int64)
LANDMARK14_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist", "neck", "head_top",
)
MIRROR_LANDMARKS14 = np.array([5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13], dtype=np.int64)
# Head-size reference for PCKh on the 14 landmarks: (neck, head top).
LANDMARK14_HEAD = (12, 13)

# --- Camera of the original ---------------------------------------------------

CROP_SIZE = 512  # Stage-1 input crop.
FIT_SIZE = 224  # Stage-2 (fitting) input size.
# Batch-norm moving-average decay of the original's slim backbones.
BN_DECAY = 0.997
FOCAL_LENGTH_512 = 5000.0
# Camera at the SMPL origin; the person is moved to this fixed distance.
FIXED_TRANSLATION = np.array([-0.01, 0.115, 20.3], dtype=np.float64)
# Stage-1 input normalisation (RGB).
IMAGENET_MEAN_RGB = np.array([122.67892, 116.66877, 104.00699], dtype=np.float64)


def focal_length(resolution):
    """Focal length in pixels of the original camera for a square crop of `resolution` px."""
    return FOCAL_LENGTH_512 * resolution / CROP_SIZE


def principal_point(resolution):
    """Principal point (x, y) in pixels: the centre of a square crop of `resolution` px."""
    return (resolution / 2.0, resolution / 2.0)


# --- The 12 body parts of NBF ---------------------------------------------------

NUM_PARTS = 12
PART_NAMES = (
    "background", "head", "upper_torso", "left_forearm_hand", "right_upper_arm",
    "left_thigh", "right_thigh", "neck", "lower_torso", "left_upper_arm",
    "right_forearm_hand", "left_lower_leg_foot", "right_lower_leg_foot",
)
# RGB colour of every label value 0..12 in the colour-coded part map.
PART_COLOURS = np.array(
    [
        [0, 0, 0], [98, 255, 255], [255, 159, 255], [197, 255, 0], [0, 134, 167],
        [213, 95, 0], [41, 128, 0], [104, 0, 147], [181, 203, 255], [0, 68, 215],
        [255, 214, 0], [0, 66, 83], [134, 126, 0],
    ],
    dtype=np.uint8,
)
# Label that a left/right mirror maps every label value to.
MIRROR_PARTS = np.array([0, 1, 2, 10, 9, 6, 5, 7, 8, 4, 3, 12, 11], dtype=np.int64)
# NBF part (1..12) of each of the 24 SMPL skinning parts.
SMPL24_TO_PART12 = np.array(
    [8, 5, 6, 8, 11, 12, 2, 11, 12, 2, 11, 12, 7, 2, 2, 1, 9, 4, 3, 10, 3, 10, 3, 10],
    dtype=np.int64,
)

# --- Training defaults of the original -------------------------------------------

SEED = 538728914
