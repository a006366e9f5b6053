"""Experiment configs: the base config with its validation, the named
experiments (`demo`, `demo_up`, `ablations:<variant>`, `segmentation_*`) that
build on it, and the paper's tables at reduced scale (`reproduce`)."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("ablations", "base", "demo", "demo_up", "experiments", "reproduce",
                "segmentation", "segmentation_deeplab_resnet", "segmentation_deeplab_vgg",
                "segmentation_refinenet"),
    exports={"base": ("default_config", "validate"),
             "experiments": ("EXPERIMENTS", "get_experiment", "experiment_path")},
)
