"""Specifications of the slim-faithful encoders."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting.networks import backbones, batch_norm


@pytest.fixture(scope="module")
def resnet50():
    return backbones.build_encoder("resnet_v1_50")


def test_resnet_v1_50_size_and_names(resnet50):
    # Keras' ResNet50 without top has the same convolutions plus one bias per
    # channel (26,560): 23,587,712 - 26,560.
    assert resnet50.count_params() == 23_561_152
    names = backbones.slim_variable_names(resnet50, "generator/")
    for name in ("generator/resnet_v1_50/conv1/weights",
                 "generator/resnet_v1_50/conv1/BatchNorm/moving_variance",
                 "generator/resnet_v1_50/block1/unit_1/bottleneck_v1/shortcut/weights",
                 "generator/resnet_v1_50/block4/unit_3/bottleneck_v1/conv3/BatchNorm/gamma"):
        assert name in names
    assert not any(name.endswith("biases") for name in names)  # No conv bias under BN.
    assert "generator/resnet_v1_50/block1/unit_2/bottleneck_v1/shortcut/weights" not in names
    assert names["generator/resnet_v1_50/block2/unit_1/bottleneck_v1/conv2/weights"].shape == (
        3, 3, 128, 128)


def test_resnet_v1_50_strides_sit_on_the_first_unit():
    blocks = backbones.resnet_v1(backbones.RESNET_V1_50, "resnet_v1_50", (224, 224, 3),
                                return_block_outputs=True)
    assert [tuple(o.shape[1:]) for o in blocks.outputs] == [
        (28, 28, 256), (14, 14, 512), (7, 7, 1024), (7, 7, 2048)]
    conv1 = blocks.get_layer("resnet_v1_50__block2__unit_1__bottleneck_v1__conv1")
    conv2 = blocks.get_layer("resnet_v1_50__block2__unit_1__bottleneck_v1__conv2")
    assert conv1.strides == (2, 2) and conv2.strides == (1, 1)
    root = blocks.get_layer("resnet_v1_50__conv1")
    assert root.padding == "valid" and root.strides == (2, 2)
    pool = blocks.get_layer("resnet_v1_50__pool1")
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2)


def test_batch_norm_settings(resnet50):
    norms = [layer for layer in resnet50.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 53
    assert all(n.momentum == 0.997 and n.epsilon == 1e-5 and n.scale for n in norms)


@pytest.mark.parametrize("dtype", ["float32", "mixed_float16"])
def test_the_fused_batch_norm_computes_what_keras_batch_norm_computes(dtype):
    """Outputs, gradients, moving statistics and inference of `FusedBatchNormalization`
    (one FusedBatchNormV3 kernel) against Keras' own layer with the same weights."""
    rng = np.random.default_rng(0)
    inputs = tf.constant(rng.normal(2.0, 3.0, (2, 5, 4, 6)), tf.float32)
    weights = [rng.normal(1.0, 0.1, 6), rng.normal(0.0, 0.1, 6), np.zeros(6), np.ones(6)]
    projection = tf.constant(rng.normal(size=inputs.shape), tf.float32)
    results = []
    for layer_class in (keras.layers.BatchNormalization, batch_norm.FusedBatchNormalization):
        layer = layer_class(momentum=0.9, epsilon=1e-5, dtype=dtype)
        layer.build(inputs.shape)
        layer.set_weights([w.astype(np.float32) for w in weights])
        traced = tf.function(lambda x, norm=layer: norm(x, training=True))
        op_types = {op.type for op in traced.get_concrete_function(inputs).graph.get_operations()}
        assert ("FusedBatchNormV3" in op_types) == (
            layer_class is batch_norm.FusedBatchNormalization), op_types
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = tf.cast(layer(inputs, training=True), tf.float32)
            loss = tf.reduce_sum(outputs * projection)
        gradients = tape.gradient(loss, [inputs, layer.gamma, layer.beta])
        results.append([outputs, *gradients, layer.moving_mean, layer.moving_variance,
                        layer(inputs, training=False)])
    tolerance = 1e-5 if dtype == "float32" else 1e-2
    for keras_value, fused_value in zip(*results):
        np.testing.assert_allclose(np.asarray(fused_value, np.float32),
                                   np.asarray(keras_value, np.float32),
                                   rtol=tolerance, atol=tolerance)
    # The moving variance moved towards the batch's (biased) variance.
    variance = np.var(inputs.numpy(), axis=(0, 1, 2))
    np.testing.assert_allclose(results[1][5].numpy(), 0.9 + 0.1 * variance, rtol=1e-3)


def test_resnet_v1_101_block_outputs_for_segmentation():
    model = backbones.resnet_v1(backbones.RESNET_V1_101, "resnet_v1_101", (64, 64, 3),
                               return_block_outputs=True)
    assert [tuple(o.shape[1:3]) for o in model.outputs] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    assert sum(1 for layer in model.layers if layer.name.endswith("bottleneck_v1_add")) == 33


# Run in a fresh process: VGG-16's 138 M weights (0.55 GB, twice that while they are
# initialised) would otherwise stay in this worker's heap after the module (~0.9 GB).
_V2_AND_VGG = """
import numpy as np
import tensorflow as tf
from neural_body_fitting.networks import backbones
v2 = backbones.build_encoder("resnet_v2_50")
names = backbones.slim_variable_names(v2)
assert "resnet_v2_50/block1/unit_1/bottleneck_v2/preact/gamma" in names
assert "resnet_v2_50/postnorm/moving_mean" in names
assert "resnet_v2_50/conv1/biases" in names  # The root conv has no batch norm.
assert v2.output.shape[-1] == 2048
vgg = backbones.build_encoder("vgg_16")
assert "vgg_16/fc7/weights" in backbones.slim_variable_names(vgg)
assert vgg.output.shape[-1] == 4096
images = tf.random.uniform([1, 224, 224, 3], seed=0)
np.testing.assert_array_equal(vgg(images, training=False), vgg(images, training=False))
assert not np.array_equal(vgg(images, training=True), vgg(images, training=True))  # Dropout.
print("checked")
"""


def test_resnet_v2_50_and_vgg_16():
    result = subprocess.run([sys.executable, "-c", _V2_AND_VGG], capture_output=True, text=True,
                            timeout=300, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "checked"


def test_unknown_encoder_is_named():
    with pytest.raises(ValueError, match="resnet_v3"):
        backbones.build_encoder("resnet_v3")


def test_the_tiny_encoder_pools_its_last_unit_and_trains_its_batch_norm():
    model = backbones.build_encoder("tiny", (32, 32, 3), bn_decay=0.5)
    assert model.output_shape == (None, backbones.TINY_DEPTHS[-1])
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    assert not np.array_equal(model(images, training=True), model(images, training=False))
