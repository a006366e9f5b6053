"""Porting the original TF1 checkpoints (fitting and segmentation) into our Keras models."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("fitting", "segmentation", "tf1"),
    exports={
        "tf1": ("read_tf1_checkpoint", "port_variables", "port_checkpoint", "checkpoint_stage",
                "detect_stage", "STAGE_SCOPES"),
        "fitting": ("port_fitting_checkpoint",),
        "segmentation": ("port_segmentation_checkpoint",),
    },
)
