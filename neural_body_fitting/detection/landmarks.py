"""The landmark model's outputs for one ROI, mapped back to the image.

From MediaPipe's `tensors_to_pose_landmarks_and_segmentation.pbtxt`: the model gives
39 landmarks of 5 values (x, y, z in ROI pixels of the 256 input, then visibility and
presence logits, each through a sigmoid), a pose flag (a probability; below 0.5 there
is no person in the ROI), a 256 x 256 person-mask logit map (sigmoid), a heatmap
(MediaPipe refines x and y with it; not used here) and 39 world landmarks (x, y, z in
metres, origin between the hips). The first 33 are the body's landmarks
(`LANDMARK_NAMES`), the other 6 the model's auxiliary points. World landmarks are
turned by the ROI's rotation, as MediaPipe's WorldLandmarkProjectionCalculator does,
so that they are upright in the image's frame.
"""
import math

import numpy as np

from neural_body_fitting.detection import regions
from neural_body_fitting.detection.decoding import sigmoid

NUM_OUTPUT_LANDMARKS = 39
NUM_LANDMARKS = 33
PRESENCE_THRESHOLD = 0.5
# The 33 landmarks in output order (pose_landmark_by_roi_cpu.pbtxt). "Left" is the
# person's left: on a person facing the camera it is on the image's right.
LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index")
LANDMARK_INDEX = {name: index for index, name in enumerate(LANDMARK_NAMES)}


def image_landmarks(raw, to_image, roi_size=regions.LANDMARK_SIZE):
    """[33, 5] x, y (image pixels), z (pixels at the image's scale, smaller is nearer the
    camera, 0 at the hips), visibility and presence (0 to 1) from the raw landmark
    output ([195] or [39, 5]); `to_image` [2, 3] maps ROI pixels to image pixels."""
    raw = np.asarray(raw, np.float32).reshape(NUM_OUTPUT_LANDMARKS, 5)[:NUM_LANDMARKS]
    xy = regions.apply(to_image, raw[:, :2])
    pixel = math.hypot(*to_image[:, 0])  # Image pixels per ROI pixel.
    z = raw[:, 2:3] * pixel
    return np.concatenate([xy, z, sigmoid(raw[:, 3:5])], axis=-1).astype(np.float32)


def world_landmarks(raw, rotation):
    """[33, 3] metres, origin between the hips, x and y turned by the ROI's `rotation`,
    from the raw world output ([117] or [39, 3])."""
    raw = np.asarray(raw, np.float32).reshape(NUM_OUTPUT_LANDMARKS, 3)[:NUM_LANDMARKS]
    cos, sin = math.cos(rotation), math.sin(rotation)
    x = cos * raw[:, 0] - sin * raw[:, 1]
    y = sin * raw[:, 0] + cos * raw[:, 1]
    return np.stack([x, y, raw[:, 2]], axis=-1).astype(np.float32)


def image_mask(raw, to_image, height, width):
    """[H, W] float32 in [0, 1]: the person-mask logits ([256, 256] or [1, 256, 256, 1])
    through a sigmoid, warped back to the image (0 outside the ROI)."""
    probabilities = sigmoid(np.asarray(raw, np.float32).reshape(regions.LANDMARK_SIZE,
                                                                regions.LANDMARK_SIZE))
    return regions.warp_to_image(probabilities, to_image, height, width)
