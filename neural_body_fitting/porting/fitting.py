"""Porting the original TF1 fitting checkpoints into `networks.NBFModel`.

The checkpoints hold the encoder under `generator/` (e.g.
`generator/resnet_v1_50/block1/unit_1/bottleneck_v1/conv1/weights`) and the
dense head `generator/weights`, `generator/biases`; `NBFModel.slim_variable_names`
maps them onto our variables.
"""
from neural_body_fitting.porting import tf1


def port_fitting_checkpoint(tf1_path, model, output_dir, allow_missing=False):
    """Ports a TF1 fitting checkpoint into `model` (an NBFModel); see `tf1.port_checkpoint`.

    Returns (report, TF2 checkpoint path, Keras weights path).
    """
    return tf1.port_checkpoint(tf1_path, "fitting", model, model.slim_variable_names(),
                               output_dir, allow_missing)
