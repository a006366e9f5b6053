"""Specifications of the stage-1 segmenters and their backbones."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting.networks import backbones, segmentation

SIZE = 64


@pytest.fixture(scope="module")
def refinenet():
    return segmentation.build_segmentation_model("refinenet_resnet_v1_101", SIZE, seed=0)


def block_sizes(model):
    return {name: tuple(output.shape[1:]) for name, output in model.output.items()}


@pytest.mark.parametrize("output_stride, strides", [
    (None, (4, 8, 16, 32)), (16, (4, 8, 16, 16)), (8, (4, 8, 8, 8))])
def test_resnet_v1_101_blocks_are_named_and_strided(output_stride, strides):
    model = backbones.resnet_v1_101((SIZE, SIZE, 3), output_stride)
    depths = (256, 512, 1024, 2048)
    assert block_sizes(model) == {
        f"block{i}": (SIZE // s, SIZE // s, d) for i, (s, d) in enumerate(zip(strides, depths), 1)}
    # The atrous variant has the same weights: one checkpoint serves every stride.
    if output_stride is not None:
        assert model.count_params() == backbones.resnet_v1_101((SIZE, SIZE, 3)).count_params()


def test_atrous_rates_follow_stack_blocks_dense():
    plan = backbones.unit_strides_and_rates(backbones.RESNET_V1_101, 8)
    # block1 (3 units) and block2 (4) keep their strides; the running stride reaches 8
    # there, so block3's first unit gives up its stride at rate 1 and doubles the rate
    # of the units after it; block4's first unit runs at 2 and doubles it again.
    expected = ([(1, 1)] * 3 + [(2, 1)] + [(1, 1)] * 3 + [(1, 1)] + [(1, 2)] * 22
                + [(1, 2)] + [(1, 4)] * 2)
    assert plan == expected
    model = backbones.resnet_v1_101((SIZE, SIZE, 3), output_stride=8)
    for unit, rate in (("block3__unit_1", 1), ("block3__unit_23", 2), ("block4__unit_1", 2),
                       ("block4__unit_3", 4)):
        conv2 = model.get_layer(f"resnet_v1_101__{unit}__bottleneck_v1__conv2")
        assert conv2.dilation_rate == (rate, rate) and conv2.strides == (1, 1)
    for output_stride in (2, 64):
        with pytest.raises(ValueError, match=f"output_stride: {output_stride} is not reachable"):
            backbones.unit_strides_and_rates(backbones.RESNET_V1_101, output_stride)


def test_refinenet_has_the_originals_variable_names(refinenet):
    names = segmentation.slim_variable_names(refinenet)
    decoder = {name for name in names if not name.startswith("resnet_v1_101/")}
    convs = ["Conv"] + [f"Conv_{i}" for i in range(1, 50)] + ["logits"]
    assert decoder == {f"{conv}/{leaf}" for conv in convs for leaf in ("weights", "biases")}
    backbone = backbones.slim_variable_names(backbones.resnet_v1_101((SIZE, SIZE, 3)))
    assert set(names) - decoder == set(backbone)
    assert len(names) == len(backbone) + 2 * 51
    # Module 4 makes Conv..Conv_10 (11 convs, input block4's 2048 channels, depth 512);
    # module 3 starts at Conv_11 on block3 and brings module 4's output in with Conv_17.
    assert names["Conv/weights"].shape == (3, 3, 2048, 512)
    assert names["Conv_10/weights"].shape == (3, 3, 512, 512)
    assert names["Conv_11/weights"].shape == (3, 3, 1024, 256)
    assert names["Conv_16/weights"].shape == (3, 3, 256, 256)
    assert names["Conv_17/weights"].shape == (3, 3, 512, 256)
    assert names["Conv_37/weights"].shape == (3, 3, 256, 256)  # Module 1 starts on block1.
    assert names["logits/weights"].shape == (3, 3, 256, 13)
    stddev = np.std(names["Conv_5/weights"].numpy())
    assert 0.0045 < stddev < 0.0055


def test_legacy_resize_samples_without_half_pixel_centres():
    image = tf.constant([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
    # Output pixel i samples input position i * 2 / 4 (0, 0.5, 1, 1.5), clamped to 1.
    expected = [[1.0, 1.5, 2.0, 2.0],
                [2.0, 2.5, 3.0, 3.0],
                [3.0, 3.5, 4.0, 4.0],
                [3.0, 3.5, 4.0, 4.0]]
    resized = segmentation.legacy_resize_bilinear(image, (4, 4))
    np.testing.assert_allclose(resized[0, :, :, 0], expected)
    # TF2's resize samples at (i + 0.5) / 2 - 0.5 instead: -0.25 (clamped), 0.25, 0.75, 1.25.
    modern = tf.image.resize(image, (4, 4), "bilinear")[0, :, :, 0].numpy()
    np.testing.assert_allclose(modern[0], [1.0, 1.25, 1.75, 2.0])
    layer = segmentation.LegacyBilinearResize((4, 4))
    np.testing.assert_array_equal(layer(image), resized)
    assert segmentation.LegacyBilinearResize.from_config(layer.get_config()).size == (4, 4)


def test_refinenet_maps_images_to_logits_at_the_input_size(refinenet):
    images = tf.random.stateless_uniform([2, SIZE, SIZE, 3], (0, 1), -120, 120)
    logits = refinenet(images, training=False)
    assert logits.shape == (2, SIZE, SIZE, segmentation.NUM_CLASSES)
    assert np.isfinite(logits).all()
    # The final resize is the legacy one: the last row repeats the one before the
    # clamped source row (stride 4: output rows 60..63 all sample source row 15).
    np.testing.assert_allclose(logits[:, -1], logits[:, -4], rtol=1e-5, atol=1e-6)


def test_deeplab_resnet_sums_four_atrous_classifiers_at_stride_8():
    model = segmentation.build_segmentation_model("deeplab_resnet_v1_101", SIZE, num_classes=5,
                                                  seed=0)
    assert model.output.shape == (None, SIZE, SIZE, 5)
    aspp = [model.get_layer(f"aspp__rate{rate}") for rate in segmentation.ASPP_RATES]
    assert [layer.dilation_rate for layer in aspp] == [(r, r) for r in (6, 12, 18, 24)]
    assert all(layer.kernel.shape == (3, 3, 2048, 5) for layer in aspp)
    block4 = model.get_layer("resnet_v1_101__block4__unit_3__bottleneck_v1_out").output
    assert block4.shape[1:3] == (SIZE // 8, SIZE // 8)
    # The ASPP output is the sum of the four branches, resized to the input.
    features = keras.Model(model.input, [block4, model.get_layer("aspp").output])
    images = tf.random.stateless_uniform([1, SIZE, SIZE, 3], (0, 2), -120, 120)
    block4_value, summed = features(images, training=False)
    np.testing.assert_allclose(summed, sum(layer(block4_value) for layer in aspp),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model(images, training=False),
                               segmentation.legacy_resize_bilinear(summed, (SIZE, SIZE)),
                               rtol=1e-5, atol=1e-5)


def test_deeplab_vgg_16_is_atrous_with_fc_branches_and_dropout():
    model = segmentation.build_segmentation_model("deeplab_vgg_16", SIZE, seed=0)
    names = segmentation.slim_variable_names(model)
    assert names["vgg_16/conv5/conv5_3/weights"].shape == (3, 3, 512, 512)
    assert model.get_layer("vgg_16__conv5__conv5_1").dilation_rate == (2, 2)
    assert model.get_layer("vgg_16__conv4__conv4_1").dilation_rate == (1, 1)
    assert [model.get_layer(f"vgg_16__pool{i}").strides for i in (3, 4, 5)] == [
        (2, 2), (1, 1), (1, 1)]
    assert model.get_layer("vgg_16__pool5").output.shape[1:] == (SIZE // 8, SIZE // 8, 512)
    for rate in segmentation.ASPP_RATES:
        assert model.get_layer(f"aspp__rate{rate}__fc6").dilation_rate == (rate, rate)
        assert names[f"aspp/rate{rate}/fc7/weights"].shape == (1, 1, 1024, 1024)
        assert names[f"aspp/rate{rate}/fc8/weights"].shape == (1, 1, 1024, 13)
    images = tf.random.stateless_uniform([1, SIZE, SIZE, 3], (0, 3), -120, 120)
    np.testing.assert_array_equal(model(images, training=False), model(images, training=False))
    assert not np.array_equal(model(images, training=True), model(images, training=True))


def test_seed_fixes_the_initial_weights_and_unknown_segmenters_are_named():
    first, second = (segmentation.build_segmentation_model("deeplab_vgg_16", 32, seed=3)
                     for _ in range(2))
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown segmenter 'unet'.*refinenet_resnet_v1_101"):
        segmentation.build_segmentation_model("unet")
