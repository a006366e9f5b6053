"""Exporting the SMPL layer and the fitting network: config round trips and SavedModels."""
import dataclasses
import json

import h5py
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import configs, geometry, networks
from neural_body_fitting.body import fingerprint, smpl
from neural_body_fitting.body.synthetic import synthetic_body_model

SIZE = 32


def smpl_inputs(batch=3, seed=0):
    """Betas [B, 10] and rotation matrices [B, 24, 3, 3], float32."""
    rng = np.random.default_rng(seed)
    betas = tf.constant(rng.normal(size=(batch, 10)), tf.float32)
    pose = rng.normal(scale=0.5, size=(batch, 24, 3))
    return betas, tf.cast(geometry.axis_angle_to_matrix(pose), tf.float32)


def json_round_trip(config):
    """The config as it comes back from a file (and proof that it can be written)."""
    return json.loads(json.dumps(config))


@pytest.mark.parametrize("seed,options", [
    (0, {}),
    (7, {"rotation_mode": "absolute", "landmark_vertex_ids": [0, 10, 100],
         "jit_compile": False}),
])
def test_smpl_config_round_trip(seed, options):
    layer = smpl.SMPL(synthetic_body_model(seed), **options)
    config = json_round_trip(layer.get_config())
    assert config["body_model"] == f"synthetic:{seed}"
    again = smpl.SMPL.from_config(config)
    assert again.get_config() == config
    assert fingerprint(again.body_model) == fingerprint(layer.body_model)
    betas, pose = smpl_inputs()
    expected, result = layer(betas, pose), again(betas, pose)
    assert sorted(result) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(result[key], expected[key], err_msg=key)


@pytest.mark.parametrize("name", ["", "built in memory"])
def test_model_without_spec_is_not_serialised_by_reference(name):
    layer = smpl.SMPL(dataclasses.replace(synthetic_body_model(0), name=name), jit_compile=False)
    with pytest.raises(ValueError, match="cannot be serialised by reference"):
        layer.get_config()


def test_smpl_saved_model_carries_the_arrays(tmp_path):
    # A model without a spec: the SavedModel must hold the arrays themselves.
    layer = smpl.SMPL(dataclasses.replace(synthetic_body_model(7), name=""))
    module = tf.Module()
    module.smpl = layer
    module.forward = tf.function(
        lambda betas, pose: layer(betas, pose),
        input_signature=[tf.TensorSpec([None, 10], tf.float32),
                         tf.TensorSpec([None, 24, 3, 3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    betas, pose = smpl_inputs(batch=2, seed=1)
    expected, result = layer(betas, pose), loaded.forward(betas, pose)
    assert sorted(result) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(result[key], expected[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)


@pytest.fixture(scope="module")
def fitting_model():
    config = configs.default_config()
    config.data.input_size = SIZE
    config.optim.seed = 0
    # A non-zero latent mean, so that the round trips must carry it.
    mean = np.random.default_rng(2).normal(scale=0.1, size=229)
    return networks.build_fitting_model(config, statistics_mean=mean)


def fitting_inputs(batch=2):
    return tf.constant(np.random.default_rng(3).uniform(-1, 1, (batch, SIZE, SIZE, 3)),
                       tf.float32)


def test_fitting_model_config_round_trip(fitting_model):
    config = json_round_trip(fitting_model.get_config())
    again = networks.NBFModel.from_config(config)
    inputs = fitting_inputs()
    again(inputs)  # Creates the head's weights.
    assert again.get_config() == config
    np.testing.assert_array_equal(again.latent_mean, fitting_model.latent_mean)
    assert ([w.shape for w in again.weights] == [w.shape for w in fitting_model.weights])
    again.set_weights(fitting_model.get_weights())
    expected, result = fitting_model(inputs), again(inputs)
    for key in expected:
        np.testing.assert_array_equal(result[key], expected[key], err_msg=key)


def test_weights_files_without_the_arrays_still_load(fitting_model, tmp_path):
    # Files written before the latent mean and the SMPL arrays became weights.
    path = str(tmp_path / "old.weights.h5")
    fitting_model.save_weights(path)
    with h5py.File(path, "r+") as stored:
        del stored["vars"], stored["layers/smpl/vars"]
    inputs = fitting_inputs()
    expected = fitting_model(inputs)["landmarks"]
    fitting_model.load_weights(path)
    np.testing.assert_array_equal(fitting_model(inputs)["landmarks"], expected)


class FittingExport(tf.Module):
    """The fitting network as a SavedModel: input map -> latent, SMPL joints, 2D landmarks,
    vertices."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        size = model.options.input_size
        self.fit = tf.function(self._fit, input_signature=[
            tf.TensorSpec([None, size, size, 3], tf.float32)])

    def _fit(self, inputs):
        """inputs [B, S, S, 3] -> latent [B, 226], smpl_joints [B, 24, 3], landmarks_2d,
        vertices."""
        outputs = self.model(inputs, training=False, return_vertices=True)
        return {key: outputs[key] for key in
                ("latent", "smpl_joints", "landmarks_2d", "vertices")}


def test_fitting_saved_model_matches_the_model(fitting_model, tmp_path):
    tf.saved_model.save(FittingExport(fitting_model), str(tmp_path))
    loaded = tf.saved_model.load(str(tmp_path))
    inputs = fitting_inputs()
    result = loaded.fit(inputs)
    expected = fitting_model(inputs, training=False, return_vertices=True)
    assert sorted(result) == ["landmarks_2d", "latent", "smpl_joints", "vertices"]
    for key in result:
        np.testing.assert_allclose(result[key], expected[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
