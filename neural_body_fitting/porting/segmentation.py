"""Porting the original TF1 segmentation checkpoint (`refinenet_up`) into our segmenter.

The checkpoint holds the ResNet-101 backbone under `resnet_v1_101/`, the
RefineNet decoder's convolutions `Conv`, `Conv_1`, ..., `Conv_49` and the
classifier `logits` at the root scope; `networks.segmentation.slim_variable_names`
maps them onto the layers of `build_segmentation_model('refinenet_resnet_v1_101')`.
"""
from neural_body_fitting.networks import segmentation
from neural_body_fitting.porting import tf1


def port_segmentation_checkpoint(tf1_path, model, output_dir, allow_missing=False):
    """Ports a TF1 segmentation checkpoint into `model` (a segmenter); see `tf1.port_checkpoint`.

    Returns (report, TF2 checkpoint path, Keras weights path).
    """
    return tf1.port_checkpoint(tf1_path, "segmentation", model,
                               segmentation.slim_variable_names(model), output_dir, allow_missing)
