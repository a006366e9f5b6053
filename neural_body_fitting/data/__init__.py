"""Data: the on-disk layout, the input encodings, synthetic and UP-3D
datasets, augmentation and the tf.data input pipelines of both stages.

`nbf.data.load_split`, `make_dataset`, ... are the fitting stage's input
pipeline's (`fitting_inputs`; the segmentation stage's is
`segmentation_inputs`); the other modules are reached as `nbf.data.layout`,
`nbf.data.encodings`, ...
"""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("augment", "encodings", "fitting_inputs", "keypoint_noise", "layout",
                "segmentation_inputs", "pose_bank_builder", "statistics", "synthesis",
                "tf_data", "up3d"),
    exports={"fitting_inputs": ("FittingInputs", "Split", "load_split", "rotation_matrices",
                                "latent_statistics", "make_dataset")},
)
