"""Experiment 'segmentation_deeplab_resnet': DeepLab-v2 on ResNet-101
(a weaker part segmenter the paper compares).

The recipe is configs/segmentation.py's.
"""
from neural_body_fitting.configs.segmentation import segmentation_config


def get_config():
    return segmentation_config("deeplab_resnet_v1_101")
