"""Losses: the original's error kinds and their combination into an objective."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("fitting",),
    exports={"fitting": ("KINDS", "TERMS", "check_loss_terms", "per_sample",
                         "loss_terms_values", "weight_decay")},
)
