"""The body: SMPL-format model files, the built-in synthetic model, the SMPL
layer, the pose prior, BVH motion capture, retargeting to SMPL, the pose bank
and the layouts of parameter records.

Imports no TensorFlow until the SMPL layer or functions are used.
"""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("body_model", "bvh", "parameter_records", "pose_bank", "pose_prior", "resolve",
                "retarget", "safe_pickle", "smpl", "synthetic"),
    exports={
        "body_model": ("BodyModel", "load_body_model", "save_body_model"),
        "safe_pickle": ("safe_load_pickle",),
        "resolve": ("resolve_body_model", "spec_of", "fingerprint"),
        "synthetic": ("synthetic_body_model",),
        "smpl": ("SMPL",),
    },
)
