"""Networks: slim-faithful backbones described as data, the stage-1 segmenters and the
fitting network."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("backbones", "fitting", "segmentation"),
    exports={
        "backbones": ("BN_DECAY", "Block", "build_encoder", "slim_variable_names",
                      "resnet_v1", "resnet_v1_101", "resnet_v2", "vgg_16"),
        "fitting": ("FittingOptions", "NBFModel", "build_fitting_model"),
        "segmentation": ("build_segmentation_model", "build_segmenter", "legacy_resize_bilinear"),
    },
)
