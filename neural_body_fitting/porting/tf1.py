"""Reading the original's TF1 checkpoints and assigning them into our Keras models.

A checkpoint holds the network's slim variables plus what a training
checkpoint also holds: `global_step`, Adam's slots (`.../Adam`, `.../Adam_1`)
and `beta1_power` / `beta2_power`, which are ignored. Each network gives the
mapping {slim name: our variable} (its `slim_variable_names`), so porting is
mechanical: `port_checkpoint(path, stage, model, targets, output_dir)`.

Which stage a checkpoint belongs to shows in its names: the fitting
network's variables are all under `generator/`, the segmenter's backbone is
`resnet_v1_101/` at the root (`checkpoint_stage`).
"""
import os
import re

import numpy as np
import tensorflow as tf

from neural_body_fitting.utils import files

_BOOKKEEPING = re.compile(r"(^|/)(global_step|beta[12]_power)$|/Adam(_\d+)?$")
STAGE_SCOPES = {"fitting": "generator/", "segmentation": "resnet_v1_101/"}


def _checkpoint_reader(path):
    """A reader of the TF1 checkpoint at `path` (prefix, or directory: its latest one)."""
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"{path}: no checkpoint in this directory")
        path = latest
    try:
        return tf.train.load_checkpoint(path)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as error:
        raise ValueError(f"{path}: not a readable TF checkpoint ({error})") from error


def read_tf1_checkpoint(path):
    """{variable name: NumPy array} of a TF1 checkpoint (prefix or directory)."""
    reader = _checkpoint_reader(path)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def detect_stage(path):
    """'fitting' or 'segmentation': the stage of the TF1 checkpoint at `path` (names only read).

    Raises:
      ValueError: naming `path`, when its variables belong to neither stage.
    """
    names = _checkpoint_reader(path).get_variable_to_shape_map()
    stage = checkpoint_stage(names)
    if stage is None:
        expected = " or ".join(f"'{scope}' ({s})" for s, scope in STAGE_SCOPES.items())
        raise ValueError(f"{path}: no variables under {expected}, e.g. {sorted(names)[:3]}: "
                         "not a checkpoint of the original NBF")
    return stage


def port_variables(values, targets, allow_missing=False):
    """Assigns every target variable from the TF1 value of the same name.

    Args:
      values: {TF1 name: array} (e.g. from `read_tf1_checkpoint`).
      targets: {TF1 name: our variable} (e.g. `NBFModel.slim_variable_names()`).
      allow_missing: do not raise when a target has no value.
    Returns:
      {'assigned': [...], 'missing': [...], 'unmapped': [...], 'ignored': [...]}
      ('unmapped': TF1 variables that no target takes; 'ignored': bookkeeping).
    Raises:
      ValueError: a shape mismatch (naming the variable and both shapes), or
        missing targets unless `allow_missing`.
    """
    for name, variable in targets.items():
        if name in values and tuple(values[name].shape) != tuple(variable.shape):
            raise ValueError(f"{name}: checkpoint shape {list(values[name].shape)} does not "
                             f"match the model's {list(variable.shape)}")
    missing = sorted(name for name in targets if name not in values)
    if len(missing) == len(targets):
        example = sorted(values)[:3]
        raise ValueError(f"none of the model's {len(targets)} variables is in the checkpoint "
                         f"(it holds e.g. {example}): not a checkpoint of this network")
    if missing and not allow_missing:
        raise ValueError(f"{len(missing)} model variables are not in the checkpoint, e.g. "
                         f"{missing[:5]}")
    assigned = []
    for name, variable in targets.items():
        if name in values:
            variable.assign(np.asarray(values[name], dtype=variable.dtype))
            assigned.append(name)
    extra = [name for name in values if name not in targets]
    return {
        "assigned": sorted(assigned), "missing": missing,
        "ignored": sorted(name for name in extra if _BOOKKEEPING.search(name)),
        "unmapped": sorted(name for name in extra if not _BOOKKEEPING.search(name)),
    }


def checkpoint_stage(names):
    """'fitting' or 'segmentation' from a checkpoint's variable names; None if neither."""
    for stage, scope in STAGE_SCOPES.items():
        if any(name.startswith(scope) for name in names):
            return stage
    return None


def check_stage(values, stage, path):
    """Raises ValueError naming `path` when its variables belong to the other stage.

    (A checkpoint of neither stage is left to `port_variables`, which
    refuses it when none of the model's variables is in it.)
    """
    found = checkpoint_stage(values)
    if found not in (None, stage):
        raise ValueError(f"{path}: expected a {stage} checkpoint, but it holds a {found} "
                         f"checkpoint (variables under '{STAGE_SCOPES[found]}')")


def port_checkpoint(tf1_path, stage, model, targets, output_dir, allow_missing=False):
    """Assigns the TF1 `stage` checkpoint `tf1_path` into `model`; writes it in our formats.

    Args:
      stage: 'fitting' or 'segmentation' (see STAGE_SCOPES); checked against the names.
      targets: {TF1 name: variable of `model`} (the network's `slim_variable_names`).
      output_dir: receives `ported` (TF2 checkpoint) and `ported.weights.h5` (Keras).
    Returns:
      (report of `port_variables`, TF2 checkpoint path, Keras weights path).
    Raises:
      ValueError: naming `tf1_path`: a checkpoint of the other stage, or as `port_variables`.
    """
    values = read_tf1_checkpoint(tf1_path)
    check_stage(values, stage, tf1_path)
    try:
        report = port_variables(values, targets, allow_missing)
    except ValueError as error:
        raise ValueError(f"{tf1_path}: {error}") from None
    os.makedirs(output_dir, exist_ok=True)
    checkpoint_path = tf.train.Checkpoint(model=model).write(os.path.join(output_dir, "ported"))
    weights_path = os.path.join(output_dir, "ported.weights.h5")
    with files.atomic_path(weights_path) as tmp_path:
        model.save_weights(tmp_path)
    return report, checkpoint_path, weights_path
