"""Experiment 'segmentation_refinenet': the paper's part segmenter, RefineNet on ResNet-101.

The recipe is configs/segmentation.py's.
"""
from neural_body_fitting.configs.segmentation import segmentation_config


def get_config():
    return segmentation_config("refinenet_resnet_v1_101")
