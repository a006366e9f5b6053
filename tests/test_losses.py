"""Specifications of the loss kinds, their combination into terms and weight decay.

Every expected value is computed here from the formula (NumPy), never by the library:
see docs/losses_and_metrics.md for the formulas.
"""
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import losses

C = 4.6851  # Tukey's biweight constant.
OFFSET = 0.05  # euclidist_robust_v1: distances below this are free.


def tukey_errors(d):
    """Tukey's biweight of d / s, s = 1.4826 x median |d| over all the values given."""
    r = d / (1.4826 * np.median(np.abs(d)))
    return np.where(np.abs(r) <= C, C ** 2 / 6 * (1 - (1 - (r / C) ** 2) ** 3), C ** 2 / 6)


ELEMENTWISE = {
    "mabserr": lambda d, s: np.abs(d),
    "msqerr": lambda d, s: d ** 2,
    "gmc_var": lambda d, s: d ** 2 / (s + d ** 2),
    "gmc_std": lambda d, s: d ** 2 / (s ** 2 + d ** 2),
    "tukey": lambda d, s: tukey_errors(d),
}
POINTWISE = {
    "euclidist": lambda dist: dist,
    "sqeuclidist": lambda dist: dist ** 2,
    "euclidist_robust_v1": lambda dist: np.maximum(dist - OFFSET, 0.0),
}
BASES = (*ELEMENTWISE, *POINTWISE)


def centre(points, suffix):
    """Subtracts the neck (landmark 12) or the hip centre (landmarks 2, 3) from [B, 14, 2]."""
    if suffix == "_simtrans_neck":
        return points - points[:, 12:13]
    if suffix == "_simtrans_hips":
        return points - 0.5 * (points[:, 2:3] + points[:, 3:4])
    return points


def reference(kind, prediction, target, std=1.0):
    """Per-sample error [B]: the mean over a sample's values (or points) of the formula."""
    base = kind
    for suffix in ("_simtrans_neck", "_simtrans_hips"):
        if kind.endswith(suffix):
            base = kind[:-len(suffix)]
            prediction, target = centre(prediction, suffix), centre(target, suffix)
    d = prediction - target
    if base in POINTWISE:
        errors = POINTWISE[base](np.linalg.norm(d, axis=-1))
    else:
        errors = ELEMENTWISE[base](d, std)
    return errors.reshape(len(errors), -1).mean(axis=1)


def rtol(kind):
    """Tukey's scale carries a 1e-6 guard against a zero median: ~1e-5 relative here."""
    return 1e-4 if kind.startswith("tukey") else 1e-6


def per_sample(kind, prediction, target, std=None):
    return losses.per_sample(kind, tf.constant(prediction), tf.constant(target), std).numpy()


def landmarks(seed, spread=0.1, batch=3):
    """Predictions and targets [B, 14, 2] in normalised coordinates."""
    rng = np.random.default_rng(seed)
    target = rng.uniform(-1, 1, (batch, 14, 2))
    return target + rng.uniform(-spread, spread, target.shape), target


def test_kinds_are_the_eight_bases_with_three_variants_each():
    assert sorted(losses.KINDS) == sorted(
        base + suffix for base in BASES for suffix in ("", "_simtrans_neck", "_simtrans_hips"))


@pytest.mark.parametrize("kind,expected", [
    ("mabserr", (0 + 0 + 3 + 4) / 4),
    ("msqerr", (0 + 0 + 9 + 16) / 4),
    ("gmc_var", (0 + 0 + 9 / 10 + 16 / 17) / 4),  # σ = 1 when no std is given.
    ("gmc_std", (0 + 0 + 9 / 10 + 16 / 17) / 4),
    ("euclidist", (0 + 5) / 2),
    ("sqeuclidist", (0 + 25) / 2),
    ("euclidist_robust_v1", (0 + 5 - 0.05) / 2),
])
def test_kinds_on_a_hand_computed_sample(kind, expected):
    prediction = np.array([[[1.0, 2.0], [4.0, 6.0]]])  # Errors (0, 0) and (3, 4).
    target = np.array([[[1.0, 2.0], [1.0, 2.0]]])
    np.testing.assert_allclose(per_sample(kind, prediction, target), [expected], atol=1e-6)


@pytest.mark.parametrize("kind", BASES)
def test_every_kind_matches_its_formula_per_sample(kind):
    prediction, target = landmarks(seed=1)
    expected = reference(kind, prediction, target)
    np.testing.assert_allclose(per_sample(kind, prediction, target), expected,
                               rtol=rtol(kind))
    # Each sample has its own value.
    assert len(set(np.round(expected, 9))) == len(expected)


def test_the_data_exercise_both_sides_of_the_robust_offset():
    prediction, target = landmarks(seed=1)
    distance = np.linalg.norm(prediction - target, axis=-1)
    assert (distance < OFFSET).any() and (distance > OFFSET).any()


@pytest.mark.parametrize("kind", ["gmc_var", "gmc_std"])
def test_geman_mcclure_kinds_use_sigma_as_variance_or_standard_deviation(kind):
    std = np.array([0.5, 2.0, 0.1, 1.0, 3.0, 0.25])
    rng = np.random.default_rng(2)
    target = rng.normal(size=(4, 6))
    prediction = target + rng.normal(size=(4, 6))
    got = per_sample(kind, prediction, target, tf.constant(std))
    np.testing.assert_allclose(got, reference(kind, prediction, target, std), rtol=1e-9)
    other = {"gmc_var": "gmc_std", "gmc_std": "gmc_var"}[kind]
    assert np.abs(got - reference(other, prediction, target, std)).min() > 1e-3


def test_tukey_on_both_branches():
    d = np.array([[0.1, -0.2, 0.3, 2.0, -10.0]])
    scale = 1.4826 * 0.3  # The median absolute residual is 0.3.
    r = d / scale
    inside = np.abs(r) <= C
    assert inside[0, :4].all() and not inside[0, 4] and np.abs(r[0, 3]) > 4  # 2.0 -> r = 4.5.
    rho = np.where(inside, C ** 2 / 6 * (1 - (1 - (r / C) ** 2) ** 3), C ** 2 / 6)
    got = per_sample("tukey", d, np.zeros_like(d))
    np.testing.assert_allclose(got, rho.mean(1), rtol=1e-5)
    # A saturated residual costs c²/6 however large it is.
    farther = per_sample("tukey", d * [[1, 1, 1, 1, 100]], np.zeros_like(d))
    np.testing.assert_allclose(farther, got, rtol=1e-9)


def test_tukey_scale_is_the_median_over_the_batch_with_an_even_count():
    # Two samples, four residuals: the median is the mean of the middle two, (0.2 + 0.4) / 2.
    d = np.array([[0.1, 1.3], [-0.4, 0.2]])
    r = d / (1.4826 * 0.3)
    expected = (C ** 2 / 6 * (1 - (1 - (r / C) ** 2) ** 3)).mean(1)
    np.testing.assert_allclose(per_sample("tukey", d, np.zeros_like(d)), expected, rtol=1e-5)


@pytest.mark.parametrize("suffix", ["_simtrans_neck", "_simtrans_hips"])
@pytest.mark.parametrize("base", BASES)
def test_simtrans_kinds_subtract_the_reference_point(base, suffix):
    prediction, target = landmarks(seed=3)
    kind = base + suffix
    np.testing.assert_allclose(per_sample(kind, prediction, target),
                               reference(kind, prediction, target), rtol=rtol(kind),
                               atol=1e-6)  # euclidist: sqrt(0 + 1e-12) at the point itself.
    # The neck and the hip centre are different points: the two variants differ.
    other = {"_simtrans_neck": "_simtrans_hips", "_simtrans_hips": "_simtrans_neck"}[suffix]
    assert np.abs(reference(kind, prediction, target)
                  - reference(base + other, prediction, target)).min() > 1e-4


@pytest.mark.parametrize("suffix", ["_simtrans_neck", "_simtrans_hips"])
@pytest.mark.parametrize("base", BASES)
def test_simtrans_kinds_ignore_a_shift_of_the_whole_body(base, suffix):
    _, target = landmarks(seed=4)
    shifted = target + np.array([0.3, -0.2])
    assert (per_sample(base, shifted, target) > 1e-3).all()
    np.testing.assert_allclose(per_sample(base + suffix, shifted, target), 0.0, atol=1e-5)


# --- Terms ------------------------------------------------------------------------


def terms_batch(flags, seed=5):
    """Outputs and a batch whose flag-0 samples have huge 3D errors."""
    rng = np.random.default_rng(seed)
    flags = np.asarray(flags, np.int32)
    size = len(flags)
    shapes = {"latent": (size, 6), "rest_joints": (size, 4, 3), "landmarks": (size, 4, 3)}
    batch = {key: rng.normal(size=shape) for key, shape in shapes.items()}
    outputs = {key: value + 0.1 * rng.normal(size=value.shape) for key, value in batch.items()}
    for key in shapes:
        outputs[key][flags == 0] += 100.0
    batch["landmarks_2d"] = rng.uniform(0, 224, (size, 14, 2))
    outputs["landmarks_2d"] = batch["landmarks_2d"] + rng.uniform(-20, 20, (size, 14, 2))
    batch["latent_flag"] = flags
    return outputs, batch


def term_values(loss_terms, outputs, batch, latent_std=None):
    values = losses.loss_terms_values(
        loss_terms, {k: tf.constant(v) for k, v in outputs.items()},
        {k: tf.constant(v) for k, v in batch.items()},
        None if latent_std is None else tf.constant(latent_std))
    return {term: value.numpy() for term, value in values.items()}


LATENT_STD = np.array([0.5, 2.0, 0.1, 1.0, 3.0, 0.25])
TERMS = {
    "model_parameters": ("gmc_std", 1.5),
    "joint_locations_betas": ("msqerr", 0.5),
    "joint_locations_posed": ("euclidist", 2.0),
    "joint_locations_projected": ("euclidist_simtrans_hips", 3.0),
}


def test_3d_terms_use_only_flagged_samples_and_the_2d_term_all():
    flags = [1, 0, 1, 1, 0]
    outputs, batch = terms_batch(flags)
    values = term_values(TERMS, outputs, batch, LATENT_STD)
    flagged = np.array(flags) == 1
    expected = {
        "model_parameters": 1.5 * reference("gmc_std", outputs["latent"], batch["latent"],
                                            LATENT_STD)[flagged].mean(),
        "joint_locations_betas": 0.5 * reference(
            "msqerr", outputs["rest_joints"], batch["rest_joints"])[flagged].mean(),
        "joint_locations_posed": 2.0 * reference(
            "euclidist", outputs["landmarks"], batch["landmarks"])[flagged].mean(),
        "joint_locations_projected": 3.0 * reference(
            "euclidist_simtrans_hips", outputs["landmarks_2d"] / 112 - 1,
            batch["landmarks_2d"] / 112 - 1).mean(),
    }
    assert values.keys() == expected.keys()
    for term in expected:
        np.testing.assert_allclose(values[term], expected[term], rtol=1e-9, err_msg=term)
    assert values["joint_locations_posed"] < 2.0  # The flag-0 samples' 100 would show.


def test_a_batch_without_flagged_samples_has_zero_3d_terms():
    outputs, batch = terms_batch([0, 0, 0])
    values = term_values(TERMS, outputs, batch, LATENT_STD)
    for term in ("model_parameters", "joint_locations_betas", "joint_locations_posed"):
        assert values[term] == 0.0, term
    projected = values["joint_locations_projected"]
    assert np.isfinite(projected) and projected > 0
    np.testing.assert_allclose(projected, 3.0 * reference(
        "euclidist_simtrans_hips", outputs["landmarks_2d"] / 112 - 1,
        batch["landmarks_2d"] / 112 - 1).mean(), rtol=1e-9)


def test_a_single_flagged_sample_gives_its_own_error():
    outputs, batch = terms_batch([0, 1, 0, 0])
    values = term_values({"joint_locations_betas": ("mabserr", 1.0)}, outputs, batch)
    np.testing.assert_allclose(values["joint_locations_betas"], reference(
        "mabserr", outputs["rest_joints"], batch["rest_joints"])[1], rtol=1e-9)


def test_2d_term_works_in_coordinates_normalised_at_224_pixels():
    outputs, batch = terms_batch([1, 1])
    batch["landmarks_2d"] = np.full((2, 14, 2), 50.0)
    outputs["landmarks_2d"] = batch["landmarks_2d"] + np.array([3 * 112.0, 4 * 112.0])  # 5 units.
    for kind, expected in (("euclidist", 5.0), ("mabserr", 3.5), ("msqerr", 12.5)):
        values = term_values({"joint_locations_projected": (kind, 1.0)}, outputs, batch)
        np.testing.assert_allclose(values["joint_locations_projected"], expected, rtol=1e-9)


def test_weights_multiply_and_sigma_is_used_only_for_the_latent():
    outputs, batch = terms_batch([1, 0, 1])
    once = term_values({"joint_locations_posed": ("gmc_var", 1.0)}, outputs, batch, LATENT_STD)
    scaled = term_values({"joint_locations_posed": ("gmc_var", 2.5)}, outputs, batch,
                         LATENT_STD)
    expected = reference("gmc_var", outputs["landmarks"], batch["landmarks"])[[0, 2]].mean()
    np.testing.assert_allclose(once["joint_locations_posed"], expected, rtol=1e-9)
    np.testing.assert_allclose(scaled["joint_locations_posed"], 2.5 * expected, rtol=1e-9)
    no_std = term_values({"model_parameters": ("gmc_var", 1.0)}, outputs, batch)
    np.testing.assert_allclose(no_std["model_parameters"], reference(
        "gmc_var", outputs["latent"], batch["latent"])[[0, 2]].mean(), rtol=1e-9)


# --- Weight decay -------------------------------------------------------------------


def test_weight_decay_is_half_the_squared_kernels_times_the_factor():
    conv = keras.layers.Conv2D(4, 3)
    norm = keras.layers.BatchNormalization()
    inner = keras.Sequential([conv, norm, keras.layers.ReLU()])
    dense = keras.layers.Dense(5)
    last = keras.layers.Dense(2)
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Flatten()(inner(inputs))
    model = keras.Model(inputs, last(dense(x)))
    # Biases and batch-norm parameters non-zero, so that counting them would show.
    for variable in (conv.bias, dense.bias, last.bias, norm.gamma, norm.beta):
        variable.assign(np.full(variable.shape, 0.7, np.float32))
    kernels = [conv.kernel.numpy(), dense.kernel.numpy(), last.kernel.numpy()]
    expected = 3e-4 * sum((k.astype(np.float64) ** 2).sum() / 2 for k in kernels)
    got = float(losses.weight_decay(model, 3e-4))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    everything = 3e-4 * sum((v.numpy().astype(np.float64) ** 2).sum() / 2
                            for v in model.trainable_variables)
    assert everything - expected > 1e-4 * expected


# --- Validation ---------------------------------------------------------------------


@pytest.mark.parametrize("loss_terms,num_landmarks,name", [
    ({"joint_angles": ("mabserr", 1.0)}, 14, "joint_angles"),
    ({"model_parameters": ("mean_abs", 1.0)}, 14, "mean_abs"),
    ({"joint_locations_projected": ("euclidist_simtrans_chest", 1.0)}, 14,
     "euclidist_simtrans_chest"),
    ({"joint_locations_posed": ("euclidist_simtrans_neck", 1.0)}, 14,
     "euclidist_simtrans_neck"),
    ({"model_parameters": ("mabserr_simtrans_hips", 1.0)}, 14, "mabserr_simtrans_hips"),
    ({"joint_locations_projected": ("tukey_simtrans_hips", 1.0)}, 24, "tukey_simtrans_hips"),
])
def test_check_loss_terms_rejects_with_the_name(loss_terms, num_landmarks, name):
    with pytest.raises(ValueError, match=re.escape(name)):
        losses.check_loss_terms(loss_terms, num_landmarks)


def test_check_loss_terms_accepts_every_kind_where_it_applies():
    for kind in losses.KINDS:
        losses.check_loss_terms({"joint_locations_projected": (kind, 1.0)}, 14)
        if "simtrans" not in kind:
            for term in losses.TERMS:
                losses.check_loss_terms({term: (kind, 0.5)}, 24)


# --- Gradients ----------------------------------------------------------------------


@pytest.mark.parametrize("kind,std", [("gmc_std", np.array([0.7, 1.3])),
                                      ("euclidist_simtrans_neck", None)])
def test_gradient_matches_central_differences(kind, std):
    prediction, target = landmarks(seed=6, spread=0.3, batch=2)
    weights = np.array([0.8, -1.7])
    std_tensor = None if std is None else tf.constant(std)

    def value(x):
        errors = losses.per_sample(kind, x, tf.constant(target), std_tensor)
        return tf.reduce_sum(errors * weights)

    x = tf.Variable(prediction)
    with tf.GradientTape() as tape:
        loss = value(x)
    gradient = tape.gradient(loss, x).numpy()
    numeric = np.zeros_like(prediction)
    step = 1e-6
    for index in np.ndindex(prediction.shape):
        delta = np.zeros_like(prediction)
        delta[index] = step
        numeric[index] = (value(tf.constant(prediction + delta))
                          - value(tf.constant(prediction - delta))).numpy() / (2 * step)
    assert np.abs(gradient).max() > 1e-2
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8)
