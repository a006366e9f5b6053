"""Porting an original-style TF1 checkpoint into the Keras NBF model."""
import numpy as np
import pytest
import tensorflow as tf
import tf1_reference

from neural_body_fitting import configs, networks, porting
from neural_body_fitting.body import parameter_records

SIZE = 64


def model_config():
    config = configs.default_config()
    config.data.input_size = SIZE
    config.optim.seed = 0
    config.runtime.compile_body_model = False  # Porting does not depend on how SMPL runs.
    return config


@pytest.fixture(scope="module")
def tf1_checkpoint(tmp_path_factory):
    inputs = np.random.default_rng(1).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    path = str(tmp_path_factory.mktemp("tf1") / "model.ckpt-1234")
    outputs = tf1_reference.save_training_checkpoint(
        path, parameter_records.latent_size("betas,pose"), inputs)
    return path, inputs, outputs


@pytest.fixture(scope="module")
def model():
    """One fitting network for the module; the porting test restores it from zeros."""
    return networks.build_fitting_model(model_config())


def test_ported_model_reproduces_the_tf1_outputs(tf1_checkpoint, model, tmp_path):
    path, inputs, expected = tf1_checkpoint
    report, checkpoint, weights = porting.port_fitting_checkpoint(
        path, tf1_reference.zeroed(model), str(tmp_path))
    assert not report["missing"] and not report["unmapped"]
    assert "global_step" in report["ignored"] and "beta1_power" in report["ignored"]
    assert any(name.endswith("/Adam_1") for name in report["ignored"])
    assert len(report["assigned"]) == len(model.slim_variable_names())
    latent = model(inputs, training=False)["latent"].numpy()
    relative = np.abs(latent - expected).max() / np.abs(expected).max()
    assert relative <= 1e-4, relative
    # The written TF2 checkpoint and Keras weights hold the ported values: a
    # model whose every weight is zero gets them back from each.
    tf.train.Checkpoint(model=tf1_reference.zeroed(model)).restore(checkpoint).expect_partial()
    np.testing.assert_allclose(model(inputs)["latent"], latent, rtol=1e-5, atol=1e-6)
    tf1_reference.zeroed(model).load_weights(weights)
    np.testing.assert_allclose(model(inputs)["latent"], latent, rtol=1e-5, atol=1e-6)


def test_shape_mismatch_is_refused_and_extras_reported(tf1_checkpoint, model):
    values = porting.read_tf1_checkpoint(tf1_checkpoint[0])
    targets = model.slim_variable_names()
    bad = dict(values, **{"generator/biases": np.zeros(5, np.float32)})
    with pytest.raises(ValueError, match=r"generator/biases: checkpoint shape \[5\]"):
        porting.port_variables(bad, targets)
    extra = dict(values, **{"generator/unknown_layer/weights": np.zeros(3)})
    assert porting.port_variables(extra, targets)["unmapped"] == [
        "generator/unknown_layer/weights"]
    partial = {k: v for k, v in values.items() if "block4" not in k}
    with pytest.raises(ValueError, match="not in the checkpoint"):
        porting.port_variables(partial, targets)
