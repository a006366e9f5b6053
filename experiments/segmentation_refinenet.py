"""Experiment 'segmentation_refinenet': the paper's part segmenter, RefineNet on ResNet-101.

The config lives in the package (neural_body_fitting/configs/segmentation_refinenet.py) so that
it installs with it; this file lets `--config=experiments/segmentation_refinenet.py` work.
"""
from neural_body_fitting.configs.segmentation_refinenet import get_config  # noqa: F401
