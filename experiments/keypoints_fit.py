"""Experiment 'keypoints_fit': the joint-map network for detected landmarks (--mode=keypoints_fit).

The config lives in the package (neural_body_fitting/configs/keypoints_fit.py) so that
it installs with it; this file lets `--config=experiments/keypoints_fit.py` work too.
"""
from neural_body_fitting.configs.keypoints_fit import get_config  # noqa: F401
