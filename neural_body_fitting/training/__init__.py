"""Training: the custom loop under a tf.distribute strategy, with checkpoints."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("checkpoints", "runs", "trainer"),
    exports={"trainer": ("Trainer", "build_strategy", "learning_rate", "latent_statistics")},
)
