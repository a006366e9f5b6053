"""The named experiments, found without a checkout.

A command's `--config` takes a config file or one of these names, optionally
with an argument: `demo`, `demo_up`, `ablations:table1_parts6`. Each name is a
module of this package with a `get_config([argument])`, so the experiments
install with the package; the files in the repository's `experiments/`
folder re-export them.
"""
import importlib
import os

EXPERIMENTS = {
    "demo": "a few minutes of CPU training on a small synthetic dataset (make demo)",
    "demo_up": "the original's released fitting model on UP-3D",
    "ablations": "the paper's Tables 1, 3 and 4 as variants (ablations:<variant>)",
    "segmentation_refinenet": "the part segmenter (stage 1): RefineNet on ResNet-101",
    "segmentation_deeplab_resnet": "the part segmenter (stage 1): DeepLab-v2 on ResNet-101",
    "segmentation_deeplab_vgg": "the part segmenter (stage 1): DeepLab-v2 on VGG-16",
}


def experiment_path(name):
    """The config file of a named experiment ('demo_up' or 'ablations:table3_lat').

    Keeps the ':<argument>' suffix, which absl's config flags pass to get_config.
    """
    base, sep, argument = name.partition(":")
    if base not in EXPERIMENTS:
        raise ValueError(f"unknown experiment '{base}'; known: {sorted(EXPERIMENTS)}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{base}.py") + sep + argument


def get_experiment(name):
    """The config of a named experiment ('demo_up', 'ablations:table3_lat')."""
    base, _, argument = name.partition(":")
    experiment_path(base)  # Validates the name.
    module = importlib.import_module(f"neural_body_fitting.configs.{base}")
    return module.get_config(argument) if argument else module.get_config()
