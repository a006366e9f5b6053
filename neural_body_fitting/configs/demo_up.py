"""The original's `demo_up` experiment: the released NBF fitting model on UP-3D.

ResNet-50 v1 on 12-part colour maps at 224 px (`interm_size`; stage 1 sees
512 px crops), latent of shape and pose (226 values) with absolute
rotations and the SVD projection, the ground-truth translation, 24
landmarks (the SMPL joints), latent L1 + projected-joint Euclidean losses,
Adam 4e-5 (beta1 0.5) with polynomial decay, batch 5, 75 epochs.

    nbf-train --config=demo_up \
        --config.runtime.dataset_root=/data/up3d_nbf --model_dir=/runs/demo_up

The original read its latent statistics from `train_mean.npy` and
`train_std.npy` beside the data; to do the same, write them with
`nbf-stats --dataset_root=/data/up3d_nbf --output=/data/up3d_nbf/train` and pass
`--config.model.fitting.latent_stats={dataset_root}/train`. By default they are computed
from the training split, which gives the same values.
"""
from neural_body_fitting.configs.base import default_config


def get_config():
    config = default_config()
    config.data.num_landmarks = 24
    return config
