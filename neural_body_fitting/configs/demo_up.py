"""The original NBF settings for UP-3D (ResNet-50 v1, 12-part maps, absolute
rotations, SVD projection, latent L1 + 2D Euclidean losses, Adam 4e-5 with
polynomial decay, batch 5, 75 epochs).

    nbf-train --config=demo_up \
        --config.dataset_root=/data/up3d_nbf --model_dir=/runs/demo_up
"""
from neural_body_fitting.configs.base import default_config


def get_config():
    return default_config()
