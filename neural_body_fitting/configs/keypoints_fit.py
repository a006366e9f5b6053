"""`keypoints_fit`: the joint-map network that fits detected landmarks (`--mode=keypoints_fit`).

The demo's recipe (configs/demo.py: ResNet-50 at 96 px, 1200 steps of
batch 16, Adam 1e-3 decayed to 0) on the 14-landmark joint maps of the
paper's Table 1 (`joints14`: as informative for 3D pose as the 12-part map,
28.8 against 27.8 mm), trained on landmarks corrupted as a detector's are
(data.keypoint_noise). A joint map drawn from a real detector's landmarks
has no synthetic-to-real gap of pixels; what remains is the detector's error:

- jitter 0.024 of the person's size, measured: BlazePose's 14 landmarks on
  synthetic renderings lie 12.2 px from the truth (median over all
  landmarks, sides resolved; docs/detection.md) for a person 440 px tall,
  and the median length of a 2D Gaussian error is 1.18 sigma, so
  sigma = 12.2 / 1.18 / 440 = 0.024.
- swap_rate 0.1, chosen: the detector swapped left and right on half the
  faceless synthetic bodies, but kept them right on the real astronaut,
  whose face shows; training with a few swaps teaches tolerance without
  teaching that the sides mean nothing.
- drop_rate 0.05, chosen: a landmark left out now and then (landmarks
  outside the crop are never drawn anyway).

`benchmarks/bench_keypoint_corruption.py` reports the held-out errors of
such a run at several corruption levels (README).
"""
from neural_body_fitting.configs import demo


def get_config():
    config = demo.get_config()
    config.data.input_type = "joints14"
    config.data.keypoint_corruption.jitter = 0.024
    config.data.keypoint_corruption.swap_rate = 0.1
    config.data.keypoint_corruption.drop_rate = 0.05
    config.runtime.cache_inputs = False  # Maps are drawn anew each pass; nothing is decoded.
    return config
