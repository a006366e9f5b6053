"""The named experiments (`registries.EXPERIMENTS`), found without a checkout.

A command's `--config` takes a config file or one of these names, optionally
with an argument: `demo`, `demo_up`, `ablations:table1_parts6`. Each name is a
module of this package with a `get_config([argument])`, so the experiments
install with the package; the files in the repository's `experiments/`
folder re-export them. A module's docstring starts with what it is.
"""
from neural_body_fitting import registries

EXPERIMENTS = registries.EXPERIMENTS


def describe(name):
    """The first line of the experiment's docstring."""
    return (EXPERIMENTS.get(name).__doc__ or "").strip().splitlines()[0]


def experiment_path(name):
    """The config file of a named experiment ('demo_up' or 'ablations:table3_lat').

    Keeps the ':<argument>' suffix, which absl's config flags pass to get_config.
    """
    base, sep, argument = name.partition(":")
    return EXPERIMENTS.get(base, "--config").__file__ + sep + argument


def get_experiment(name):
    """The config of a named experiment ('demo_up', 'ablations:table3_lat')."""
    base, _, argument = name.partition(":")
    module = EXPERIMENTS.get(base, "--config")
    return module.get_config(argument) if argument else module.get_config()
