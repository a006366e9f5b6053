"""Losses: the original's error kinds and their combination into an objective,
and the segmenter's cross-entropy."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("fitting", "replicas", "segmentation", "terms"),
    exports={"fitting": ("per_sample", "loss_terms_values", "weight_decay"),
             "terms": ("KINDS", "TERMS", "check_loss_terms")},
)
