"""The person detector's raw output as detections: scores, boxes and 4 keypoints per
anchor, then weighted non-maximum suppression that keeps every separate person.

Settings from MediaPipe's `pose_detection_cpu.pbtxt` (TensorsToDetectionsCalculator,
NonMaxSuppressionCalculator): 12 values per anchor, the box first (x centre, y centre,
width, height: "reverse output order") and then 4 keypoints as (x, y), all in input
pixels (scale 224) relative to the anchor centre; the score is a logit clipped to
[-100, 100] before the sigmoid and kept from 0.5; suppression is weighted, by
intersection over union above 0.3.

The box is the face's; the keypoints are what the region of interest is built from
(`regions.py`): 0 the mid-hip centre, 1 a point whose distance and direction from it
give the body's size and rotation, 2 and 3 the same for the upper body.
"""
import dataclasses

import numpy as np

SCALE = 224.0
SCORE_CLIP = 100.0
MIN_SCORE = 0.5
SUPPRESSION_IOU = 0.3
NUM_KEYPOINTS = 4
VALUES_PER_ANCHOR = 4 + 2 * NUM_KEYPOINTS


@dataclasses.dataclass(frozen=True)
class Detections:
    scores: np.ndarray  # [N] in (0, 1).
    boxes: np.ndarray  # [N, 4] xmin, ymin, xmax, ymax.
    keypoints: np.ndarray  # [N, 4, 2] x, y.

    def __len__(self):
        return len(self.scores)

    def take(self, index):
        return Detections(self.scores[index], self.boxes[index], self.keypoints[index])


def sigmoid(logits):
    """1 / (1 + exp(-x)) as float32, written with tanh so that large logits do not overflow."""
    return (0.5 + 0.5 * np.tanh(0.5 * np.asarray(logits, np.float32))).astype(np.float32)


def decode(raw_boxes, raw_scores, anchors, scale=SCALE, min_score=MIN_SCORE):
    """Detections scoring at least `min_score`, coordinates in [0, 1] of the model's input.

    raw_boxes [A, 12], raw_scores [A] or [A, 1] (logits), anchors [A, 2] centres (x, y).
    """
    raw_boxes = np.asarray(raw_boxes, np.float32).reshape(-1, VALUES_PER_ANCHOR)
    raw_scores = np.asarray(raw_scores, np.float32).reshape(-1)
    anchors = np.asarray(anchors, np.float32)
    if not len(raw_boxes) == len(raw_scores) == len(anchors):
        raise ValueError(f"decode: {len(raw_boxes)} boxes, {len(raw_scores)} scores and "
                         f"{len(anchors)} anchors; they must agree")
    scores = sigmoid(np.clip(raw_scores, -SCORE_CLIP, SCORE_CLIP))
    keep = scores >= min_score
    raw, centres = raw_boxes[keep], anchors[keep]
    # Anchors are 1 x 1 (fixed size): offsets and sizes scale by 1 / 224 only.
    middle = centres + raw[:, 0:2] / scale
    half = raw[:, 2:4] / scale / 2
    boxes = np.concatenate([middle - half, middle + half], axis=-1)
    keypoints = centres[:, None, :] + raw[:, 4:].reshape(-1, NUM_KEYPOINTS, 2) / scale
    return Detections(scores[keep], boxes, keypoints)


def iou(box, boxes):
    """[N] intersection over union of one box [4] with boxes [N, 4] (xmin, ymin, xmax, ymax)."""
    low = np.maximum(box[:2], boxes[:, :2])
    high = np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(high - low, 0, None), axis=-1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=-1)
    union = area + areas - intersection
    return np.where(union > 0, intersection / np.where(union > 0, union, 1), 0.0)


def weighted_nms(detections, threshold=SUPPRESSION_IOU):
    """One detection per group of overlapping ones, best first.

    Take the best remaining detection; every remaining one (itself included) whose box
    overlaps its box by IoU above `threshold` joins its group; the group's boxes and
    keypoints are averaged with the scores as weights, and the best score is kept.
    Detections that overlap no better one (separate people) each make their own group.
    """
    order = np.argsort(-detections.scores, kind="stable")
    scores, boxes, keypoints = [], [], []
    while order.size:
        best = order[0]
        group = iou(detections.boxes[best], detections.boxes[order]) > threshold
        group[0] = True  # A degenerate (empty) box still groups with itself.
        members = order[group]
        weights = detections.scores[members]
        weights = weights / weights.sum()
        scores.append(detections.scores[best])
        boxes.append(np.tensordot(weights, detections.boxes[members], axes=1))
        keypoints.append(np.tensordot(weights, detections.keypoints[members], axes=1))
        order = order[~group]
    if not scores:
        return detections.take(np.zeros(0, int))
    return Detections(np.array(scores, np.float32), np.array(boxes, np.float32),
                      np.array(keypoints, np.float32))
