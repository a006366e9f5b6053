"""Porting the original TF1 checkpoints into our Keras models."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("fitting",),
    exports={"fitting": ("read_tf1_checkpoint", "port_variables", "port_fitting_checkpoint")},
)
