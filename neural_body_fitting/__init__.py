"""Neural Body Fitting (Omran et al., 3DV 2018) in TensorFlow 2.

    import neural_body_fitting as nbf
    model = nbf.synthetic_body_model()          # or nbf.load_body_model(path)
    layer = nbf.SMPL(model)
    out = layer(betas, pose)                     # vertices, joints, landmarks14, ...

Modules, in the order data flows through them: `body_model` (SMPL-format
model files), `synthetic_body` (the built-in model), `geometry` (rotations,
camera), `smpl` (the differentiable body model); `render` (label maps and
shaded images), `encodings` (Table-1 inputs), `dataset` (the on-disk layout),
`pose_prior` and `synthesis` (synthetic datasets), `up3d` (UP-3D conversion),
`augment`, `data` (tf.data pipeline); `networks` (slim-faithful encoders),
`models` (the fitting network), `losses`, `config`, `training`,
`evaluation`, `porting` (original TF1 checkpoints).
"""
from neural_body_fitting import (augment, config, constants, data, dataset, encodings,
                                 evaluation, geometry, losses, models, networks, porting,
                                 render, training)
from neural_body_fitting.models import NBFModel
from neural_body_fitting.body_model import (BodyModel, load_body_model, resolve_body_model,
                                            save_body_model)
from neural_body_fitting.smpl import SMPL
from neural_body_fitting.synthetic_body import synthetic_body_model

__version__ = "0.1.0"

__all__ = [
    "BodyModel", "NBFModel", "SMPL", "augment", "config", "constants", "data", "dataset",
    "encodings", "evaluation", "geometry", "load_body_model", "losses", "models", "networks",
    "porting", "render", "resolve_body_model", "save_body_model", "synthetic_body_model",
    "training",
]
