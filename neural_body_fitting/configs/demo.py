"""`make demo`: a few minutes of CPU training on a small synthetic dataset.

Same network and losses as the original, with a smaller input (96 px: an
XLA-compiled ResNet-50 step at batch 16 takes ~0.65 s on two cores), a
larger batch and learning rate, a batch-norm decay of 0.9 (with 0.997 the
moving statistics used at test time are still far from the batch statistics
after a few hundred steps), and the posed 3D joints as an extra loss term, so
that the few hundred steps that fit in the time budget show
learning.
"""
from neural_body_fitting.configs.base import default_config


def get_config():
    config = default_config()
    config.input_size = 96
    config.batch_size = 16
    config.lr = 3e-4
    config.lr_policy = "constant"
    config.loss_terms.joint_locations_posed = ("euclidist", 1.0)
    config.bn_decay = 0.9  # The original's 0.997 needs far more steps to settle.
    config.cache_inputs = True
    config.xla = True
    config.save_freq = 200
    config.summary_freq = 50
    config.max_steps = 600
    return config
