"""Encoders that mirror the original's TF-slim networks, as Keras 3 models.

A ResNet is data: a list of `Block`s of bottleneck units (as in slim). Layer
names are the slim variable scopes with '/' written as '__' (Keras forbids
'/'), so `slim_scope(layer.name)` gives the scope of a layer's variables:

  resnet_v1_50__block1__unit_1__bottleneck_v1__conv1            conv weights
  resnet_v1_50__block1__unit_1__bottleneck_v1__conv1__BatchNorm  beta, gamma, moving stats

Conventions of the original (docs/networks.md): convolutions under batch
norm have no bias; batch norm decay 0.997, epsilon 1e-5, with scale; strided
k x k convolutions (k > 1) pad explicitly (k - 1 in total, (k - 1) // 2 in
front) and then run VALID ("conv2d_same"); in `resnet_v1` the stride of a
block sits on its first unit, on the unit's first 1x1 convolution and on the
projection shortcut.

For dense prediction `resnet_v1_features` takes an `output_stride` and keeps
the features at that stride with atrous (dilated) 3x3 convolutions, following
slim's `stack_blocks_dense`; `vgg_16_features` is VGG-16 with DeepLab-v2's
output stride 8 (pool4 and pool5 without stride, conv5 atrous).
"""
import dataclasses

import keras
import tensorflow as tf
from keras import layers

from neural_body_fitting import constants, registries
from neural_body_fitting.networks import batch_norm

SEPARATOR = "__"
BN_DECAY, BN_EPSILON = constants.BN_DECAY, 1e-5


@dataclasses.dataclass(frozen=True)
class Block:
    """`num_units` bottleneck units of depth 4 * base_depth; `stride` on one unit."""

    name: str
    base_depth: int
    num_units: int
    stride: int


RESNET_V1_50 = (Block("block1", 64, 3, 2), Block("block2", 128, 4, 2),
                Block("block3", 256, 6, 2), Block("block4", 512, 3, 1))
RESNET_V1_101 = (Block("block1", 64, 3, 1), Block("block2", 128, 4, 2),
                 Block("block3", 256, 23, 2), Block("block4", 512, 3, 2))
RESNET_V2_50 = (Block("block1", 64, 3, 2), Block("block2", 128, 4, 2),
                Block("block3", 256, 6, 2), Block("block4", 512, 3, 1))


def slim_scope(layer_name):
    """Keras layer name -> slim variable scope."""
    return layer_name.replace(SEPARATOR, "/")


def _name(*parts):
    return SEPARATOR.join(parts)


def _conv(x, filters, kernel, stride, name, use_bias=False, rate=1):
    """slim conv2d (SAME, atrous `rate`) or, when strided with kernel > 1, conv2d_same."""
    if stride > 1 and kernel > 1:
        total = kernel - 1
        x = layers.ZeroPadding2D(((total // 2, total - total // 2),) * 2, name=name + "_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(filters, kernel, stride, padding=padding, use_bias=use_bias,
                         dilation_rate=rate, name=name)(x)


def _bn_layer(name, decay):
    # Built under a strategy with several replicas, batch norm is synchronised
    # across them, so that training on several devices normalises over the
    # global batch like the original's single GPU did. With one replica it is
    # the same computation without the all-reduce, whose tf.custom_gradient
    # would keep every traced training step alive in TensorFlow's global
    # gradient registry (hundreds of MB per trainer for a ResNet).
    synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
    return batch_norm.FusedBatchNormalization(momentum=decay, epsilon=BN_EPSILON,
                                              synchronized=synchronized, name=name)


def _batch_norm(x, name, decay):
    return _bn_layer(_name(name, "BatchNorm"), decay)(x)


def conv_bn(x, filters, kernel, stride, name, decay, relu=True, rate=1):
    """slim conv (no bias) + batch norm (+ ReLU), named as slim's `name` scope."""
    x = _batch_norm(_conv(x, filters, kernel, stride, name, rate=rate), name, decay)
    return layers.ReLU(name=name + "_relu")(x) if relu else x


def _subsample(x, stride, name):
    """slim's identity shortcut: a 1x1 max-pool with the unit's stride."""
    return x if stride == 1 else layers.MaxPooling2D(1, stride, name=name)(x)


def _bottleneck_v1(x, depth, stride, scope, decay, rate=1):
    scope = _name(scope, "bottleneck_v1")
    if x.shape[-1] == depth:
        shortcut = _subsample(x, stride, _name(scope, "shortcut"))
    else:
        shortcut = conv_bn(x, depth, 1, stride, _name(scope, "shortcut"), decay, relu=False)
    residual = conv_bn(x, depth // 4, 1, stride, _name(scope, "conv1"), decay)
    residual = conv_bn(residual, depth // 4, 3, 1, _name(scope, "conv2"), decay, rate=rate)
    residual = conv_bn(residual, depth, 1, 1, _name(scope, "conv3"), decay, relu=False)
    return layers.ReLU(name=scope + "_out")(layers.Add(name=scope + "_add")([shortcut, residual]))


def _bottleneck_v2(x, depth, stride, scope, decay):
    scope = _name(scope, "bottleneck_v2")
    # slim names the pre-activation batch norm 'preact' (no BatchNorm sub-scope).
    preact = _bn_layer(_name(scope, "preact"), decay)(x)
    preact = layers.ReLU(name=_name(scope, "preact") + "_relu")(preact)
    if x.shape[-1] == depth:
        shortcut = _subsample(x, stride, _name(scope, "shortcut"))
    else:
        shortcut = _conv(preact, depth, 1, stride, _name(scope, "shortcut"), use_bias=True)
    residual = conv_bn(preact, depth // 4, 1, 1, _name(scope, "conv1"), decay)
    residual = conv_bn(residual, depth // 4, 3, stride, _name(scope, "conv2"), decay)
    residual = _conv(residual, depth, 1, 1, _name(scope, "conv3"), use_bias=True)
    return layers.Add(name=scope + "_add")([shortcut, residual])


ROOT_STRIDE = 4  # conv1 (stride 2) and pool1 (stride 2) before the first block.


def unit_strides_and_rates(blocks, output_stride=None):
    """[(stride, atrous rate)] of every unit, in order, as slim's `stack_blocks_dense`.

    Once the running stride (starting at ROOT_STRIDE) equals `output_stride`,
    later units run with stride 1 and their 3x3 convolutions dilated; a unit
    whose stride is dropped keeps the rate reached before it and multiplies
    the rate of the units after it.

    Raises:
      ValueError: `output_stride` is not reached by the blocks' strides.
    """
    running, rate, plan = ROOT_STRIDE, 1, []
    for block in blocks:
        for unit in range(block.num_units):
            stride = block.stride if unit == 0 else 1
            if output_stride is not None and running == output_stride:
                plan.append((1, rate))
                rate *= stride
            else:
                plan.append((stride, 1))
                running *= stride
    if output_stride is not None and running != output_stride:
        raise ValueError(f"output_stride: {output_stride} is not reachable with block strides "
                         f"{[b.stride for b in blocks]} after the root's {ROOT_STRIDE}")
    return plan


def resnet_v1_features(inputs, blocks, name, output_stride=None, bn_decay=BN_DECAY):
    """slim's resnet_v1 body on `inputs` [B, H, W, 3] (see module docstring).

    Returns {block name: [B, H/s, W/s, 4 * base_depth]}, s the block's stride
    (at most `output_stride`), in block order.
    """
    x = conv_bn(inputs, 64, 7, 2, _name(name, "conv1"), bn_decay)
    x = layers.MaxPooling2D(2, 2, padding="same", name=_name(name, "pool1"))(x)
    plan = iter(unit_strides_and_rates(blocks, output_stride))
    outputs = {}
    for block in blocks:
        for unit in range(block.num_units):
            stride, rate = next(plan)
            x = _bottleneck_v1(x, 4 * block.base_depth, stride,
                               _name(name, block.name, f"unit_{unit + 1}"), bn_decay, rate)
        outputs[block.name] = x
    return outputs


def resnet_v1(blocks, name, input_shape=(224, 224, 3), return_block_outputs=False,
              bn_decay=BN_DECAY, output_stride=None):
    """slim's resnet_v1 with the original's first-unit strides (see module docstring).

    Returns a model from images [B, H, W, 3] to the pooled feature [B, 2048],
    or, when `return_block_outputs`, to {block name: block output} (see
    `resnet_v1_features`).
    """
    inputs = keras.Input(input_shape, name="images")
    outputs = resnet_v1_features(inputs, blocks, name, output_stride, bn_decay)
    if return_block_outputs:
        return keras.Model(inputs, outputs, name=name)
    last = outputs[blocks[-1].name]
    return keras.Model(inputs, layers.GlobalAveragePooling2D(name=name + "_pool")(last), name=name)


def resnet_v1_101(input_shape=(512, 512, 3), output_stride=None, bn_decay=BN_DECAY):
    """The segmentation backbone: images -> {'block1'..'block4': [B, H/s, W/s, C]}.

    Without `output_stride` the blocks are at strides 4, 8, 16, 32 (256, 512,
    1024, 2048 channels); with 8 or 16 the later blocks stay at that stride.
    """
    return resnet_v1(RESNET_V1_101, "resnet_v1_101", input_shape, return_block_outputs=True,
                     bn_decay=bn_decay, output_stride=output_stride)


def resnet_v2(blocks, name, input_shape=(224, 224, 3), bn_decay=BN_DECAY):
    """slim's stock resnet_v2 (pre-activation; the stride on each block's last unit)."""
    inputs = keras.Input(input_shape, name="images")
    x = _conv(inputs, 64, 7, 2, _name(name, "conv1"), use_bias=True)
    x = layers.MaxPooling2D(3, 2, padding="same", name=_name(name, "pool1"))(x)
    for block in blocks:
        for unit in range(block.num_units):
            stride = block.stride if unit == block.num_units - 1 else 1
            x = _bottleneck_v2(x, 4 * block.base_depth, stride,
                               _name(name, block.name, f"unit_{unit + 1}"), bn_decay)
    x = _bn_layer(_name(name, "postnorm"), bn_decay)(x)
    x = layers.ReLU(name=_name(name, "postnorm") + "_relu")(x)
    return keras.Model(inputs, layers.GlobalAveragePooling2D(name=name + "_pool")(x), name=name)


VGG_16 = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
# DeepLab-v2 keeps VGG-16 at stride 8: pool4 and pool5 (3x3 windows, as in
# DeepLab) do not subsample and conv5 is dilated to see what it would have
# seen at stride 16.
DEEPLAB_POOL_STRIDES = (2, 2, 2, 1, 1)
DEEPLAB_CONV_RATES = (1, 1, 1, 1, 2)


def _vgg_16_convs(x, name, pool_strides=(2,) * 5, conv_rates=(1,) * 5):
    """conv1..conv5 with their pools: [B, H, W, 3] -> [B, H/s, W/s, 512], s = prod(strides)."""
    for index, ((repeat, filters), stride, rate) in enumerate(
            zip(VGG_16, pool_strides, conv_rates), 1):
        for k in range(1, repeat + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", dilation_rate=rate,
                              name=_name(name, f"conv{index}", f"conv{index}_{k}"))(x)
        pool = _name(name, f"pool{index}")
        x = (layers.MaxPooling2D(2, 2, name=pool)(x) if stride == 2 else
             layers.MaxPooling2D(3, stride, padding="same", name=pool)(x))
    return x


def vgg_16(input_shape=(224, 224, 3), name="vgg_16", dropout_keep=0.5, bn_decay=None):
    """slim's vgg_16 without fc8: fc6/fc7 as convolutions, dropout only in training.

    (No batch norm; `bn_decay` is accepted for a uniform builder signature.)
    """
    inputs = keras.Input(input_shape, name="images")
    x = _vgg_16_convs(inputs, name)
    x = layers.Conv2D(4096, 7, padding="valid", activation="relu", name=_name(name, "fc6"))(x)
    x = layers.Dropout(1 - dropout_keep, name=_name(name, "dropout6"))(x)
    x = layers.Conv2D(4096, 1, activation="relu", name=_name(name, "fc7"))(x)
    x = layers.Dropout(1 - dropout_keep, name=_name(name, "dropout7"))(x)
    return keras.Model(inputs, layers.GlobalAveragePooling2D(name=name + "_pool")(x), name=name)


def vgg_16_features(inputs, name="vgg_16"):
    """DeepLab-v2's VGG-16 body: images [B, H, W, 3] -> pool5 [B, H/8, W/8, 512]."""
    return _vgg_16_convs(inputs, name, DEEPLAB_POOL_STRIDES, DEEPLAB_CONV_RATES)


def resnet_v1_50_encoder(input_shape, bn_decay):
    return resnet_v1(RESNET_V1_50, "resnet_v1_50", input_shape, bn_decay=bn_decay)


def resnet_v1_101_encoder(input_shape, bn_decay):
    return resnet_v1(RESNET_V1_101, "resnet_v1_101", input_shape, bn_decay=bn_decay)


def resnet_v2_50_encoder(input_shape, bn_decay):
    return resnet_v2(RESNET_V2_50, "resnet_v2_50", input_shape, bn_decay)


def vgg_16_encoder(input_shape, bn_decay):
    del bn_decay  # VGG-16 has no batch norm.
    return vgg_16(input_shape)


TINY_DEPTHS = (8, 16)


def tiny_encoder(input_shape, bn_decay):
    """Two strided conv + batch-norm units and a pool: [B, H, W, 3] -> [B, 16].

    Not a network of the paper: a fitting network around it builds and
    steps in milliseconds, for smoke runs and for tests of the training
    mechanics that do not depend on the backbone.
    """
    inputs = keras.Input(input_shape, name="images")
    x = inputs
    for index, depth in enumerate(TINY_DEPTHS):
        x = conv_bn(x, depth, 3, 2, _name("tiny", f"unit_{index + 1}"), bn_decay)
    return keras.Model(inputs, layers.GlobalAveragePooling2D(name="tiny_pool")(x), name="tiny")


def build_encoder(encoder_type, input_shape=(224, 224, 3), bn_decay=BN_DECAY):
    """The encoder `encoder_type` (a name in `registries.ENCODERS`) as a Keras model.

    `bn_decay` is the batch-norm moving-average decay (the original's 0.997;
    short runs want less, or the inference statistics lag behind).
    """
    return registries.ENCODERS.get(encoder_type, "encoder_type")(input_shape, bn_decay)


def slim_variable_names(model, prefix=""):
    """{slim variable name: keras variable} for every weight of `model`.

    Conv kernels/biases become `<scope>/weights` / `<scope>/biases`; batch
    norm variables keep slim's names (beta, gamma, moving_mean, moving_variance).
    """
    names = {}
    rename = {"kernel": "weights", "bias": "biases"}
    for layer in model.layers:
        scope = slim_scope(layer.name)
        for variable in layer.weights:
            leaf = variable.path.split("/")[-1]
            names[f"{prefix}{scope}/{rename.get(leaf, leaf)}"] = variable
    return names
