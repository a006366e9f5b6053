"""The paper's training recipe for the part segmenter (stage 1), any network.

Adam with learning rate 2e-5 and polynomial decay (power 0.9 to 0), batch
5, 20 epochs, 512 px crops, weight decay 1e-4 as for the fitting network,
with the on-the-fly augmentation of `data.augment` (flip, scale 0.9-1.1,
rotation up to 45 degrees). The named experiments `segmentation_refinenet`,
`segmentation_deeplab_resnet` and `segmentation_deeplab_vgg` pick the network.

Keep RefineNet's learning rate at 1e-4 or below, also from scratch. Its
decoder (50 convolutions initialised N(0, 0.005), no normalisation, residual
sums that count their input twice) cannot take Adam's first steps at 1e-3:
each moves every weight by about the learning rate (20% of its scale), the
logits explode within a few steps, and the correction switches off the
ReLU at the start of the last module's chained residual pooling, through
which every path from the backbone passes. The output is then a constant
(all background) and the backbone gets no gradient. Clipping the gradient
does not help (Adam's step does not depend on the gradient's scale), nor
does a 20-step warm-up to 1e-3 (it diverges once past about 7e-4). At 1e-4
(64 px, 200 steps from scratch) it learns; DeepLab's one-layer head takes 1e-3.
"""
from neural_body_fitting import constants
from neural_body_fitting.configs.base import default_config


def segmentation_config(segmenter):
    """The segmentation recipe for `segmenter` (a name of `networks.segmentation.SEGMENTERS`)."""
    config = default_config()
    config.stage = "segmentation"
    config.model.segmenter.network = segmenter
    config.model.segmenter.num_classes = 13
    config.data.input_size = constants.CROP_SIZE
    config.optim.lr = 2e-5
    config.optim.lr_policy = "poly"
    config.optim.batch_size = 5
    config.runtime.max_epochs = 20
    config.loss.weight_decay = 1e-4
    return config
