"""Experiment configs: the base config with its validation, and the named
experiments (`demo`, `demo_up`, `ablations:<variant>`) that build on it."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("ablations", "base", "demo", "demo_up", "experiments"),
    exports={"base": ("default_config", "validate"),
             "experiments": ("EXPERIMENTS", "get_experiment", "experiment_path")},
)
