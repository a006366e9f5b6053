"""Training: one custom loop for both stages under a tf.distribute strategy, with checkpoints."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("checkpoints", "fitting", "runs", "segmentation", "trainer"),
    exports={"trainer": ("Trainer", "build_strategy", "learning_rate"),
             "fitting": ("latent_statistics",)},
)
