"""Latent statistics files: `<prefix>_mean.npy` and `<prefix>_std.npy`, each [229].

The record layout is `body.parameter_records`' statistics record (betas 10, rotations
216 in the run's rotation mode, translation 3). The original shipped them as
`train_mean.npy` / `train_std.npy` (prefix `<dir>/train`).
"""
import os

import numpy as np

from neural_body_fitting.body import parameter_records
from neural_body_fitting.utils import files

KINDS = ("mean", "std")


def statistics_paths(prefix):
    """{kind: '<prefix>_<kind>.npy'}; a prefix that names a folder is refused (ValueError)."""
    if not os.path.basename(prefix) or os.path.isdir(prefix):
        raise ValueError(f"{prefix}: a folder; statistics need a file-name prefix (they are "
                         f"<prefix>_mean.npy and <prefix>_std.npy), e.g. "
                         f"{os.path.join(prefix, 'latent_stats')}")
    return {kind: f"{prefix}_{kind}.npy" for kind in KINDS}


def save_latent_statistics(prefix, mean, std):
    """Writes both files atomically; returns their paths."""
    paths = statistics_paths(prefix)
    for kind, values in (("mean", mean), ("std", std)):
        _check(values, paths[kind])
        with files.atomic_open(paths[kind]) as stream:
            np.save(stream, np.asarray(values))
    return paths


def load_latent_statistics(prefix, what="latent statistics"):
    """(mean [229], std [229]) float64; errors name `what` and the file."""
    values = []
    for kind, path in statistics_paths(prefix).items():
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{what}: {path} does not exist")
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise ValueError(f"{what}: {path} is not a readable .npy file ({error})") from error
        values.append(_check(array, path).astype(np.float64))
    return tuple(values)


def _check(values, path):
    values = np.asarray(values)
    if values.shape != (parameter_records.NUM_STATS,) or not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: latent statistics must be {parameter_records.NUM_STATS} "
                         f"finite values, got shape {list(values.shape)}")
    return values
