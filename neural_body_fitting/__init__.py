"""Neural Body Fitting (Omran et al., 3DV 2018) in TensorFlow 2.

    import neural_body_fitting as nbf
    model = nbf.synthetic_body_model()          # or nbf.load_body_model(path)
    layer = nbf.SMPL(model)
    out = layer(betas, pose)                     # vertices, joints, landmarks14, ...

Modules, in the order data flows through them: `body_model` (SMPL-format
model files), `synthetic_body` (the built-in model), `geometry` (rotations,
camera), `smpl` (the differentiable body model); `render` (label maps and
shaded images), `encodings` (Table-1 inputs), `dataset` (the on-disk layout),
`pose_prior` and `synthesis` (synthetic datasets), `data` (tf.data pipeline).
"""
from neural_body_fitting import constants, data, dataset, encodings, geometry, render
from neural_body_fitting.body_model import (BodyModel, load_body_model, resolve_body_model,
                                            save_body_model)
from neural_body_fitting.smpl import SMPL
from neural_body_fitting.synthetic_body import synthetic_body_model

__version__ = "0.1.0"

__all__ = [
    "BodyModel", "SMPL", "constants", "data", "dataset", "encodings", "geometry",
    "load_body_model", "render", "resolve_body_model", "save_body_model",
    "synthetic_body_model",
]
