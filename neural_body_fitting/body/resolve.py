"""Which body model to use: the user's SMPL file or the built-in synthetic model.

A body-model *spec* is a string that names a model and loads it again:
'synthetic' or 'synthetic:<seed>' for the synthetic model, otherwise the path
of an SMPL `.pkl`/`.npz` file. The name of every model that `resolve_body_model`
gives (`BodyModel.name`) is its spec, which is how layers and runs record the
model they were built with; `spec_of` returns it, and refuses a model built in
memory, whose name loads nothing.
"""
import hashlib
import os

import numpy as np

from neural_body_fitting.body import body_model as body_model_lib
from neural_body_fitting.body.synthetic import synthetic_body_model


def resolve_body_model(spec=None):
    """BodyModel from a BodyModel, a spec, `$NBF_SMPL_MODEL`, or the synthetic default.

    Args:
      spec: None or '' ($NBF_SMPL_MODEL if set, else the synthetic model),
        'synthetic', 'synthetic:<seed>', a file path, or a BodyModel.
    """
    if isinstance(spec, body_model_lib.BodyModel):
        return spec
    spec = os.fspath(spec) if spec else os.environ.get(body_model_lib.ENV_VAR) or ""
    seed = _synthetic_seed(spec) if spec else 0
    if seed is not None:
        return synthetic_body_model(seed)
    return body_model_lib.load_body_model(spec)


def spec_of(model):
    """The spec that loads `model` again (its name), for configs that refer to the model.

    Raises:
      ValueError: `model` was built in memory: its name is empty or neither
        'synthetic[:<seed>]' nor an existing file, so it cannot be serialised
        by reference (a SavedModel still works: it carries the arrays).
    """
    name = model.name
    try:
        loadable = bool(name) and (_synthetic_seed(name) is not None or os.path.isfile(name))
    except ValueError:
        loadable = False
    if not loadable:
        raise ValueError(
            f"body model '{name}' cannot be serialised by reference: its name is not a spec "
            "that loads it again ('synthetic:<seed>' or an existing model file). Save the "
            "model with `save_body_model` and load it from that file, or export a SavedModel, "
            "which carries the arrays.")
    return name


def _synthetic_seed(spec):
    """The seed of a 'synthetic[:<seed>]' spec, or None for any other (a file path)."""
    kind, _, seed = spec.partition(":")
    if kind != body_model_lib.SYNTHETIC:
        return None
    if seed and not seed.isdigit():
        raise ValueError(f"body model '{spec}': expected 'synthetic:<integer seed>'")
    return int(seed or 0)


def fingerprint(model):
    """Hex SHA-256 of a model's arrays: equal for equal models, whatever their file."""
    digest = hashlib.sha256()
    for field in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents",
                  "faces", "part24", "landmark_vertex_ids"):
        array = np.ascontiguousarray(getattr(model, field))
        digest.update(f"{field}{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
