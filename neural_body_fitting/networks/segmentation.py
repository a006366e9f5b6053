"""Stage-1 part segmenters: image minus the ImageNet mean -> 13-class logits.

  refinenet_resnet_v1_101  ResNet-101 block outputs (strides 4..32) refined
                           coarse to fine by four RefineNet modules; the
                           original's released segmenter
  deeplab_resnet_v1_101    DeepLab-v2: ResNet-101 at output stride 8, atrous
                           spatial pyramid pooling (ASPP) on block4
  deeplab_vgg_16           DeepLab-v2 on VGG-16 at stride 8, ASPP branches of
                           fc6 (3x3 atrous) -> fc7 -> fc8 with dropout
  tiny                     one conv unit and a classifier at stride 2: not
                           the paper's; smoke runs and mechanics tests

All models map images [B, S, S, 3] (float32, minus `constants.IMAGENET_MEAN_RGB`)
to logits [B, S, S, num_classes], scaled up from the network's stride with
TF 1.6's bilinear resize (`legacy_resize_bilinear`) as the original did.

Layer names are slim scopes with '/' written as '__' (see `backbones`), so
`slim_variable_names(model)` gives the original's checkpoint names. The
RefineNet decoder's convolutions are unnamed in the original; slim numbered
them in creation order at the root scope (`Conv`, `Conv_1`, ..., `Conv_49`)
and the decoder here names its layers the same way, in the same order
(docs/networks.md).
"""
import contextlib
import itertools

import keras
import tensorflow as tf
from keras import layers

from neural_body_fitting import registries
from neural_body_fitting.networks import backbones, construction

NUM_CLASSES = 13
REFINENET_INIT_STDDEV = 0.005
REFINENET_DEPTHS = {"block4": 512, "block3": 256, "block2": 256, "block1": 256}
CHAINED_POOLING_STAGES = 4
ASPP_RATES = (6, 12, 18, 24)
ASPP_INIT_STDDEV = 0.01  # DeepLab-v2's initialisation of its classifiers.
DEEPLAB_FC_DEPTH = 1024
DEEPLAB_DROPOUT = 0.5
DEEPLAB_OUTPUT_STRIDE = 8


def legacy_resize_bilinear(images, size):
    """images [B, H, W, C] -> [B, size[0], size[1], C], bilinear as in TF 1.6.

    Output pixel i samples the input at i * H / size[0] (corners not aligned,
    no half-pixel centres), clamped to the last row/column; TF2's
    `tf.image.resize` samples at (i + 0.5) * H / size[0] - 0.5 instead.
    """
    # The raw op is what TF 1.6's resize_bilinear ran (the compat.v1 wrapper
    # warns of its deprecation on every call).
    resized = tf.raw_ops.ResizeBilinear(images=images, size=tf.constant(size, tf.int32),
                                        align_corners=False, half_pixel_centers=False)
    return tf.cast(resized, images.dtype)


@keras.saving.register_keras_serializable(package="neural_body_fitting")
class LegacyBilinearResize(layers.Layer):
    """`legacy_resize_bilinear` to a fixed `size` (height, width) as a Keras layer."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = tuple(int(s) for s in size)

    def call(self, images):
        return legacy_resize_bilinear(images, self.size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


def _slim_conv_names():
    """slim's automatic names of unnamed convolutions: Conv, Conv_1, Conv_2, ..."""
    yield "Conv"
    for index in itertools.count(1):
        yield f"Conv_{index}"


def _decoder_conv(x, depth, names):
    """RefineNet's 3x3 convolution: bias, no batch norm, no activation."""
    return layers.Conv2D(depth, 3, padding="same", kernel_initializer=keras.initializers.
                         RandomNormal(stddev=REFINENET_INIT_STDDEV), name=next(names))(x)


def _residual_conv_unit(x, names):
    """x + conv(relu(conv(relu(x)))): [B, H, W, C] -> [B, H, W, C]."""
    depth = x.shape[-1]
    y = _decoder_conv(layers.ReLU()(x), depth, names)
    y = _decoder_conv(layers.ReLU()(y), depth, names)
    return layers.Add()([x, y])


def _rcu_plus_input(x, names):
    # The original adds the input to a unit that already holds it, so x counts twice.
    return layers.Add()([_residual_conv_unit(x, names), x])


def _chained_residual_pooling(x, names):
    """relu(x) plus four chained conv -> 5x5/1 max-pool stages: [B, H, W, C] -> same."""
    start = layers.ReLU()(x)
    terms, stage = [start], start
    for _ in range(CHAINED_POOLING_STAGES):
        stage = layers.MaxPooling2D(5, 1, padding="same")(_decoder_conv(stage, x.shape[-1], names))
        terms.append(stage)
    return layers.Add()(terms)


def _refinenet_module(x, higher, depth, names):
    """One refinement module: x [B, H, W, Cx], higher [B, h, w, Ch] or None -> [B, H, W, depth].

    Makes 11 convolutions without `higher`, 13 with it.
    """
    x = _decoder_conv(x, depth, names)
    x = _rcu_plus_input(_rcu_plus_input(x, names), names)
    if higher is not None:
        x = _decoder_conv(x, depth, names)
        upsampled = LegacyBilinearResize(x.shape[1:3])(_decoder_conv(higher, depth, names))
        x = layers.Add()([x, upsampled])
    return _rcu_plus_input(_chained_residual_pooling(x, names), names)


def refinenet_resnet_v1_101_logits(images, num_classes, bn_decay):
    """images [B, S, S, 3] -> logits [B, S/4, S/4, num_classes]."""
    blocks = backbones.resnet_v1_features(images, backbones.RESNET_V1_101, "resnet_v1_101",
                                          bn_decay=bn_decay)
    names = _slim_conv_names()
    refined = None
    for block, depth in REFINENET_DEPTHS.items():
        refined = _refinenet_module(blocks[block], refined, depth, names)
    return layers.Conv2D(num_classes, 3, padding="same", kernel_initializer=keras.initializers.
                         RandomNormal(stddev=REFINENET_INIT_STDDEV), name="logits")(refined)


def _aspp_sum(x, branch):
    """Sum over ASPP_RATES of `branch(x, rate, scope)`."""
    return layers.Add(name="aspp")([branch(x, rate, f"aspp__rate{rate}") for rate in ASPP_RATES])


def _aspp_classifier(x, num_classes, rate, scope):
    return layers.Conv2D(num_classes, 3, padding="same", dilation_rate=rate,
                         kernel_initializer=keras.initializers.RandomNormal(
                             stddev=ASPP_INIT_STDDEV), name=scope)(x)


def deeplab_resnet_v1_101_logits(images, num_classes, bn_decay):
    """images [B, S, S, 3] -> logits [B, S/8, S/8, num_classes]."""
    blocks = backbones.resnet_v1_features(images, backbones.RESNET_V1_101, "resnet_v1_101",
                                          output_stride=DEEPLAB_OUTPUT_STRIDE, bn_decay=bn_decay)
    return _aspp_sum(blocks["block4"],
                     lambda x, rate, scope: _aspp_classifier(x, num_classes, rate, scope))


def _vgg_aspp_branch(x, num_classes, rate, scope):
    """fc6 (3x3, atrous `rate`) -> fc7 (1x1) -> fc8 (1x1, classes), dropout after fc6 and fc7."""
    x = layers.Conv2D(DEEPLAB_FC_DEPTH, 3, padding="same", dilation_rate=rate, activation="relu",
                      name=f"{scope}__fc6")(x)
    x = layers.Dropout(DEEPLAB_DROPOUT, name=f"{scope}__dropout6")(x)
    x = layers.Conv2D(DEEPLAB_FC_DEPTH, 1, activation="relu", name=f"{scope}__fc7")(x)
    x = layers.Dropout(DEEPLAB_DROPOUT, name=f"{scope}__dropout7")(x)
    return layers.Conv2D(num_classes, 1, kernel_initializer=keras.initializers.RandomNormal(
        stddev=ASPP_INIT_STDDEV), name=f"{scope}__fc8")(x)


def deeplab_vgg_16_logits(images, num_classes, bn_decay):
    """images [B, S, S, 3] -> logits [B, S/8, S/8, num_classes] (VGG has no batch norm)."""
    del bn_decay
    return _aspp_sum(backbones.vgg_16_features(images),
                     lambda x, rate, scope: _vgg_aspp_branch(x, num_classes, rate, scope))


TINY_DEPTH = 8


def tiny_logits(images, num_classes, bn_decay):
    """images [B, S, S, 3] -> logits [B, S/2, S/2, num_classes]: one strided conv + batch norm
    unit and a 1x1 classifier.

    Not a network of the paper: it builds and steps in milliseconds, for smoke
    runs and for tests of the training mechanics that do not depend on the network.
    """
    x = backbones.conv_bn(images / 64.0, TINY_DEPTH, 3, 2, "tiny__unit_1", bn_decay)
    return layers.Conv2D(num_classes, 1, name="tiny__logits")(x)


def build_segmentation_model(segmenter, input_size=512, num_classes=NUM_CLASSES,
                             bn_decay=backbones.BN_DECAY, seed=None):
    """The segmenter `segmenter` (a name in `registries.SEGMENTERS`) as a Keras model.

    Maps images [B, S, S, 3] minus the ImageNet mean (S = `input_size`) to
    logits [B, S, S, num_classes]. `bn_decay` is the backbone's batch-norm
    moving-average decay; `seed` (optional) fixes the initial weights.
    """
    build_logits = registries.SEGMENTERS.get(segmenter)
    with construction.seeded(seed) if seed is not None else contextlib.nullcontext():
        images = keras.Input((input_size, input_size, 3), name="images")
        logits = build_logits(images, num_classes, bn_decay)
        logits = LegacyBilinearResize((input_size, input_size), name="logits_resize")(logits)
    return keras.Model(images, logits, name=segmenter)


def build_segmenter(config):
    """The segmenter of an experiment config (`config.model.segmenter`), the one way the
    library makes it: initial weights from `config.optim.seed`, float16 inside under
    `config.optim.mixed_precision` (no global state changes)."""
    with construction.seeded(config.optim.seed), construction.dtype_policy(
            "mixed_float16" if config.optim.mixed_precision else None):
        return build_segmentation_model(config.model.segmenter.network, config.data.input_size,
                                        config.model.segmenter.num_classes,
                                        config.model.bn_decay)


def slim_variable_names(model):
    """{original TF1 variable name: our variable} of a segmentation model (see porting).

    E.g. `resnet_v1_101/block1/unit_1/bottleneck_v1/conv1/weights`,
    `Conv_49/biases`, `logits/weights`.
    """
    return backbones.slim_variable_names(model)
