"""The person detector's SSD anchors: the fixed grid its 2254 raw boxes are offsets from.

Settings from MediaPipe's `pose_detection_cpu.pbtxt` (SsdAnchorsCalculator): 5 layers
on a 224 input with strides 8, 16, 32, 32, 32, anchor offset 0.5, one aspect ratio
(1.0) and fixed anchor size. Each layer puts two anchors in every cell of its grid
(the aspect ratio and the calculator's default interpolated scale); layers with the
same stride share one grid and put their anchors in the same cell one after the other.
With a fixed anchor size every anchor is 1 x 1, so only the centres matter:
28 x 28 x 2 + 14 x 14 x 2 + 7 x 7 x 6 = 1568 + 392 + 294 = 2254.
"""
import math

import numpy as np

INPUT_SIZE = 224
STRIDES = (8, 16, 32, 32, 32)
ANCHOR_OFFSET = 0.5
ANCHORS_PER_LAYER = 2  # Aspect ratio 1.0, and the interpolated scale between layers.


def anchor_centres(input_size=INPUT_SIZE, strides=STRIDES, offset=ANCHOR_OFFSET,
                   per_layer=ANCHORS_PER_LAYER):
    """[A, 2] anchor centres (x, y) in [0, 1] of the input, in the model's output order:
    grid by grid, row by row, and within a cell the anchors of every layer of that grid."""
    centres = []
    layer = 0
    while layer < len(strides):
        same = layer
        while same < len(strides) and strides[same] == strides[layer]:
            same += 1
        cells = math.ceil(input_size / strides[layer])
        per_cell = per_layer * (same - layer)
        ys, xs = np.meshgrid((np.arange(cells) + offset) / cells,
                             (np.arange(cells) + offset) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=-1)  # [cells * cells, 2], row-major.
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = same
    return np.concatenate(centres).astype(np.float32)
