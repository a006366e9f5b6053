"""Experiment 'demo': a few minutes of CPU training on a small synthetic dataset (make demo).

The config lives in the package (neural_body_fitting/configs/demo.py) so that it
installs with it; this file lets `--config=experiments/demo.py` keep working.
"""
from neural_body_fitting.configs.demo import get_config  # noqa: F401
