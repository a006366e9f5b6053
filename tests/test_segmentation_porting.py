"""Porting an original-style TF1 segmentation checkpoint into our segmenters."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf1_reference

from neural_body_fitting import porting
from neural_body_fitting.networks import backbones, segmentation

SIZE = 64
v1 = tf.compat.v1


def images(seed, batch=2):
    return np.random.default_rng(seed).uniform(-120, 120, (batch, SIZE, SIZE, 3)).astype(
        np.float32)


def relative_error(actual, expected):
    return np.abs(np.asarray(actual) - expected).max() / np.abs(expected).max()


@pytest.fixture(scope="module")
def tf1_refinenet(tmp_path_factory):
    """(path, inputs, logits, atrous backbone block outputs) of a TF1 RefineNet checkpoint."""
    inputs = images(1)
    path = str(tmp_path_factory.mktemp("tf1") / "model.ckpt-22000")
    return (path, inputs, *tf1_reference.save_segmentation_checkpoint(path, inputs,
                                                                      backbone_stride=8))


@pytest.fixture(scope="module")
def refinenet():
    """One RefineNet for the module: building a ResNet-101 costs seconds. Tests that
    port into it restore it from scratch (`tf1_reference.zeroed`) before they compare."""
    return new_refinenet()


@pytest.fixture(scope="module")
def tf1_fitting_like(tmp_path_factory):
    """A TF1 checkpoint whose variables are named like the fitting network's."""
    path = str(tmp_path_factory.mktemp("fitting") / "model.ckpt-1")
    graph = tf.Graph()
    with graph.as_default():
        v1.get_variable("generator/weights", [2048, 226], initializer=v1.zeros_initializer())
        v1.get_variable("generator/resnet_v1_50/conv1/weights", [7, 7, 3, 64],
                        initializer=v1.zeros_initializer())
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            v1.train.Saver().save(session, path)
    return path


def new_refinenet(num_classes=segmentation.NUM_CLASSES):
    return segmentation.build_segmentation_model("refinenet_resnet_v1_101", SIZE, num_classes,
                                                 seed=0)


def test_ported_refinenet_reproduces_the_tf1_logits(tf1_refinenet, refinenet, tmp_path):
    path, inputs, expected, _ = tf1_refinenet
    model = tf1_reference.zeroed(refinenet)
    report, checkpoint, weights = porting.port_segmentation_checkpoint(path, model, str(tmp_path))
    assert not report["missing"] and not report["unmapped"]
    assert "global_step" in report["ignored"] and "Conv_49/weights/Adam_1" in report["ignored"]
    assert len(report["assigned"]) == len(segmentation.slim_variable_names(model))
    logits = model(inputs, training=False).numpy()
    assert logits.shape == expected.shape == (2, SIZE, SIZE, 13)
    assert relative_error(logits, expected) <= 1e-4, relative_error(logits, expected)
    # The written TF2 checkpoint and Keras weights hold the ported values: a
    # model whose every weight is zero gets them back from each.
    tf.train.Checkpoint(model=tf1_reference.zeroed(model)).restore(checkpoint).expect_partial()
    np.testing.assert_allclose(model(inputs, training=False), logits, rtol=1e-5, atol=1e-5)
    tf1_reference.zeroed(model).load_weights(weights)
    np.testing.assert_allclose(model(inputs, training=False), logits, rtol=1e-5, atol=1e-5)


def test_refinenet_names_and_shapes_equal_the_tf1_graph(tf1_refinenet, refinenet):
    values = porting.read_tf1_checkpoint(tf1_refinenet[0])
    network = {name: value.shape for name, value in values.items()
               if "Adam" not in name and name not in ("global_step", "beta1_power",
                                                      "beta2_power")}
    ours = {name: tuple(variable.shape)
            for name, variable in segmentation.slim_variable_names(refinenet).items()}
    assert ours == network
    assert {name for name in network if name.startswith("Conv")} == (
        {f"Conv/{leaf}" for leaf in ("weights", "biases")}
        | {f"Conv_{i}/{leaf}" for i in range(1, 50) for leaf in ("weights", "biases")})


def test_atrous_backbone_matches_the_tf1_reference(tf1_refinenet):
    path, inputs, _, expected = tf1_refinenet
    model = backbones.resnet_v1_101((SIZE, SIZE, 3), output_stride=8)
    report = porting.port_variables(porting.read_tf1_checkpoint(path),
                                    backbones.slim_variable_names(model))
    # The segmenter's checkpoint: the backbone takes everything but the decoder.
    assert not report["missing"] and report["unmapped"]
    assert all(name.startswith(("Conv", "logits/")) for name in report["unmapped"])
    outputs = model(inputs, training=False)
    for index, reference in enumerate(expected, 1):
        actual = outputs[f"block{index}"]
        assert actual.shape == reference.shape
        assert relative_error(actual, reference) <= 1e-4, (index, relative_error(actual, reference))


def test_shape_mismatch_is_refused_naming_file_variable_and_shapes(tf1_refinenet, tmp_path):
    path = tf1_refinenet[0]
    with pytest.raises(ValueError, match=(
            rf"{path}: logits/weights: checkpoint shape \[3, 3, 256, 13\] does not match "
            rf"the model's \[3, 3, 256, 7\]")):
        porting.port_segmentation_checkpoint(path, new_refinenet(7), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_checkpoint_of_the_other_stage_is_refused(tf1_refinenet, tf1_fitting_like, refinenet,
                                                    tmp_path):
    assert porting.detect_stage(tf1_refinenet[0]) == "segmentation"
    assert porting.detect_stage(tf1_fitting_like) == "fitting"
    with pytest.raises(ValueError, match=(
            f"{tf1_fitting_like}: expected a segmentation checkpoint, but it holds a fitting "
            "checkpoint")):
        porting.port_segmentation_checkpoint(tf1_fitting_like, refinenet,
                                             str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_port_command_refuses_the_wrong_stage_before_building(tf1_fitting_like, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "neural_body_fitting.cli.port",
         f"--tf1_checkpoint={tf1_fitting_like}", "--stage=segmentation",
         f"--output_dir={tmp_path / 'out'}"],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert result.returncode != 0
    assert (f"{tf1_fitting_like}: --stage=segmentation, but this is a fitting checkpoint"
            in result.stderr), result.stderr[-2000:]
