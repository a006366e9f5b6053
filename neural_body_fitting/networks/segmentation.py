"""TEMPORARY stage-1 segmenter for development: a small honest network with the
contract of the real RefineNet / DeepLab segmenters, to be replaced by them.

Every name in `SEGMENTERS` builds the same network: a reduced `resnet_v1`
(one bottleneck unit per block) whose first and last block outputs are
classified by 1x1 convolutions, summed at the first block's resolution and
resized bilinearly to the input size.
"""
import keras
from keras import layers

from neural_body_fitting.networks import backbones

SEGMENTERS = ("refinenet_resnet_v1_101", "deeplab_resnet_v1_101", "deeplab_vgg_16")
NUM_CLASSES = 13

# One unit per block keeps the development network fast on a CPU.
_SMALL_BLOCKS = (backbones.Block("block1", 16, 1, 1), backbones.Block("block2", 32, 1, 2),
                 backbones.Block("block3", 64, 1, 2), backbones.Block("block4", 128, 1, 2))


def build_segmentation_model(segmenter, input_size=512, num_classes=NUM_CLASSES,
                             bn_decay=backbones.BN_DECAY):
    """Images [B, S, S, 3] minus the ImageNet mean -> logits [B, S, S, num_classes]."""
    if segmenter not in SEGMENTERS:
        raise ValueError(f"segmenter: unknown '{segmenter}', expected one of {SEGMENTERS}")
    images = keras.Input((input_size, input_size, 3), name="images")
    backbone = backbones.resnet_v1(_SMALL_BLOCKS, "resnet_small", (input_size, input_size, 3),
                                   return_block_outputs=True, bn_decay=bn_decay)
    block1, _, _, block4 = backbone(images)
    fine = layers.Conv2D(num_classes, 1, name="fine_logits")(block1)
    coarse = layers.Conv2D(num_classes, 1, name="coarse_logits")(block4)
    coarse = layers.Resizing(block1.shape[1], block1.shape[2], interpolation="bilinear",
                             name="coarse_resize")(coarse)
    logits = layers.Add(name="logits_sum")([fine, coarse])
    logits = layers.Resizing(input_size, input_size, interpolation="bilinear",
                             name="logits_resize")(logits)
    return keras.Model(images, logits, name=segmenter)
