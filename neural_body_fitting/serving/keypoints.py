"""Keypoint layouts by name, and the original's 14 landmarks from any of them.

Keypoints are [K, 3] (x, y, confidence) in image pixels, in a layout given by a tuple
of K names: OpenPose's BODY_25 and COCO-18 (`BODY25_NAMES`, `COCO18_NAMES`) or
BlazePose's 33 (`detection.landmarks.LANDMARK_NAMES`, confidence = visibility). A
point counts when its confidence is at least `min_confidence`.

The 14 landmarks (`constants.LANDMARK14_NAMES`, LSP order): ankles, knees, hips,
wrists, elbows and shoulders are the layout's points of those names;

  neck      the shoulders' midpoint (what OpenPose's own neck point is meant to be);
  head top  extrapolated from the neck through the centre of the eyes and ears:
            neck + HEAD_TOP_FACTOR * (face centre - neck), the face centre being
            the mean of the confident ones of the two eyes and two ears.

HEAD_TOP_FACTOR is anthropometric, not fitted: for an adult standing upright the
acromion line is about 31 cm below the top of the head, the eyes about 12 cm and
the ears (tragion) about 14 cm below it, so the top is 31 / 18 = 1.7 times the
neck-to-face-centre distance from the neck. Following the face's direction keeps
the estimate right for a tilted or lying head. How well it does on renderings with
known landmarks is in docs/detection.md.
"""
import numpy as np

from neural_body_fitting import constants

BODY25_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
    "right_heel")
COCO18_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear")
# OpenPose's layouts told apart by their number of values (x, y, c per point).
OPENPOSE_LAYOUTS = {3 * len(BODY25_NAMES): BODY25_NAMES, 3 * len(COCO18_NAMES): COCO18_NAMES}
HEAD_TOP_FACTOR = 1.7
FACE_NAMES = ("left_eye", "right_eye", "left_ear", "right_ear")
MIN_CONFIDENCE = 0.1


def point(keypoints, names, name):
    """[3] the point `name` of keypoints [K, 3] in layout `names`; zeros if it has none."""
    return np.asarray(keypoints[names.index(name)], np.float64) if name in names else np.zeros(3)


def midpoint(first, second, min_confidence=MIN_CONFIDENCE):
    """[3] the middle of two points [3], confidence the lower one; zeros unless both count."""
    if min(first[2], second[2]) < min_confidence:
        return np.zeros(3)
    return np.array([*(first[:2] + second[:2]) / 2.0, min(first[2], second[2])])


def neck(keypoints, names, min_confidence=MIN_CONFIDENCE):
    """[3] the shoulders' midpoint (zeros unless both shoulders count)."""
    return midpoint(point(keypoints, names, "left_shoulder"),
                    point(keypoints, names, "right_shoulder"), min_confidence)


def head_top(keypoints, names, min_confidence=MIN_CONFIDENCE):
    """[3] the head top estimated from the neck and face points (module docstring);
    zeros without a neck or without any confident eye or ear. Confidence: the lowest
    of the points used."""
    base = neck(keypoints, names, min_confidence)
    face = np.array([point(keypoints, names, name) for name in FACE_NAMES])
    face = face[face[:, 2] >= min_confidence]
    if base[2] < min_confidence or not len(face):
        return np.zeros(3)
    top = base[:2] + HEAD_TOP_FACTOR * (face[:, :2].mean(axis=0) - base[:2])
    return np.array([*top, min(base[2], face[:, 2].min())])


def landmarks14(keypoints, names, min_confidence=MIN_CONFIDENCE):
    """[14, 3] the original's 14 landmarks (x, y, confidence) from keypoints [K, 3] in
    layout `names`; a landmark the layout lacks or cannot estimate is zeros."""
    keypoints = np.asarray(keypoints, np.float64)
    direct = [point(keypoints, names, name) for name in constants.LANDMARK14_NAMES[:12]]
    return np.array(direct + [neck(keypoints, names, min_confidence),
                              head_top(keypoints, names, min_confidence)])


def to_layout(keypoints, names, target_names, min_confidence=MIN_CONFIDENCE):
    """[len(target_names), 3] keypoints [K, 3] of layout `names` in another layout:
    points by name, `neck` and `mid_hip` as midpoints when the source has none, zeros
    for the rest."""
    keypoints = np.asarray(keypoints, np.float64)
    derived = {"neck": lambda: neck(keypoints, names, min_confidence),
               "mid_hip": lambda: midpoint(point(keypoints, names, "left_hip"),
                                           point(keypoints, names, "right_hip"),
                                           min_confidence)}
    return np.array([point(keypoints, names, name) if name in names or name not in derived
                     else derived[name]() for name in target_names]).reshape(-1, 3)
