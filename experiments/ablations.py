"""Experiment 'ablations': the paper's Tables 1, 3 and 4 as variants (ablations:<variant>).

The config lives in the package (neural_body_fitting/configs/ablations.py) so that it
installs with it; this file lets `--config=experiments/ablations.py` keep working.
"""
from neural_body_fitting.configs.ablations import get_config  # noqa: F401
