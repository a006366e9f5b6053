"""Porting the original TF1 fitting checkpoints into our Keras model.

The original checkpoints hold slim variables under `generator/` (the
encoder, e.g. `generator/resnet_v1_50/block1/unit_1/bottleneck_v1/conv1/weights`,
and the dense head `generator/weights`, `generator/biases`) plus what a
training checkpoint also holds: `global_step`, Adam's slots (`.../Adam`,
`.../Adam_1`) and `beta1_power` / `beta2_power`, which are ignored. Our
layer names make the mapping mechanical (`NBFModel.slim_variable_names`).
"""
import os
import re

import numpy as np
import tensorflow as tf

from neural_body_fitting.utils import files

_BOOKKEEPING = re.compile(r"(^|/)(global_step|beta[12]_power)$|/Adam(_\d+)?$")


def read_tf1_checkpoint(path):
    """{variable name: NumPy array} of a TF1 checkpoint (prefix or directory)."""
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"{path}: no checkpoint in this directory")
        path = latest
    try:
        reader = tf.train.load_checkpoint(path)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as error:
        raise ValueError(f"{path}: not a readable TF checkpoint ({error})") from error
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


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


def port_fitting_checkpoint(tf1_path, model, output_dir, allow_missing=False):
    """Ports a TF1 fitting checkpoint into `model` and writes TF2 checkpoint + Keras weights.

    Returns (report, checkpoint path, weights path).
    """
    try:
        report = port_variables(read_tf1_checkpoint(tf1_path), model.slim_variable_names(),
                                allow_missing)
    except ValueError as error:
        raise ValueError(f"{tf1_path}: {error}") from None
    os.makedirs(output_dir, exist_ok=True)
    checkpoint_path = tf.train.Checkpoint(model=model).write(os.path.join(output_dir, "ported"))
    weights_path = os.path.join(output_dir, "ported.weights.h5")
    with files.atomic_path(weights_path) as tmp_path:
        model.save_weights(tmp_path)
    return report, checkpoint_path, weights_path
