"""Experiment 'demo_up': the original's released fitting model on UP-3D.

The config lives in the package (neural_body_fitting/configs/demo_up.py) so that it
installs with it; this file lets `--config=experiments/demo_up.py` keep working.
"""
from neural_body_fitting.configs.demo_up import get_config  # noqa: F401
