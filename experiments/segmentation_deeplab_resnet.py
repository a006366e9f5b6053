"""Experiment 'segmentation_deeplab_resnet': DeepLab-v2 on ResNet-101
(a weaker part segmenter the paper compares).

The config lives in the package (neural_body_fitting/configs/segmentation_deeplab_resnet.py) so that
it installs with it; this file lets `--config=experiments/segmentation_deeplab_resnet.py` work.
"""
from neural_body_fitting.configs.segmentation_deeplab_resnet import get_config  # noqa: F401
