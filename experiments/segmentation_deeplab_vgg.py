"""Experiment 'segmentation_deeplab_vgg': DeepLab-v2 on VGG-16
(a weaker part segmenter the paper compares).

The config lives in the package (neural_body_fitting/configs/segmentation_deeplab_vgg.py) so that
it installs with it; this file lets `--config=experiments/segmentation_deeplab_vgg.py` work.
"""
from neural_body_fitting.configs.segmentation_deeplab_vgg import get_config  # noqa: F401
