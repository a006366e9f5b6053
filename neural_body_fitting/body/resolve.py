"""Which body model to use: the user's SMPL file or the built-in synthetic model.

A body-model *spec* is a string that names a model and loads it again:
'synthetic' or 'synthetic:<seed>' for the synthetic model, otherwise the path
of an SMPL `.pkl`/`.npz` file. `BodyModel.name` is always a spec, which is
how layers and runs record the model they were built with.
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
    kind, _, seed = spec.partition(":")
    if not spec or kind == body_model_lib.SYNTHETIC:
        if seed and not seed.isdigit():
            raise ValueError(f"body model '{spec}': expected 'synthetic:<integer seed>'")
        return synthetic_body_model(int(seed or 0))
    return body_model_lib.load_body_model(spec)


def fingerprint(model):
    """Hex SHA-256 of a model's arrays: equal for equal models, whatever their file."""
    digest = hashlib.sha256()
    for field in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents",
                  "faces", "part24", "landmark_vertex_ids"):
        array = np.ascontiguousarray(getattr(model, field))
        digest.update(f"{field}{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
