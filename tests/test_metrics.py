"""Specifications of the evaluation metrics against independent references.

Procrustes against Umeyama's closed form, rotation distances against SciPy, the
rest against hand-computed numbers.
"""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from neural_body_fitting import geometry
from neural_body_fitting.evaluation import metrics


def umeyama(source, target):
    """Umeyama (1991): c R x + t for the similarity (det R = +1) closest to target."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    s, t = source - mu_s, target - mu_t
    covariance = t.T @ s / len(source)
    u, d, vt = np.linalg.svd(covariance)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / (s ** 2).sum(1).mean()
    return scale * source @ rotation.T + (mu_t - scale * rotation @ mu_s)


def fitted_linear_map(source, aligned):
    """The matrix M with aligned - mean = (source - mean) M (least squares)."""
    solution, *_ = np.linalg.lstsq(source - source.mean(0), aligned - aligned.mean(0),
                                   rcond=None)
    return solution


# --- Procrustes ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_procrustes_recovers_a_similarity_transform_exactly(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(24, 3))
    rotation = Rotation.random(rng=rng).as_matrix()
    scale, translation = rng.uniform(0.3, 3.0), rng.normal(size=3)
    target = scale * points @ rotation.T + translation
    aligned = metrics.procrustes_align(points, target)
    np.testing.assert_allclose(aligned, target, atol=1e-9)
    # Not a trivial case: the points start far from the target.
    assert np.abs(points - target).max() > 0.5


@pytest.mark.parametrize("seed", [3, 4])
def test_procrustes_matches_umeyama_on_noisy_data(seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(24, 3))
    rotation = Rotation.random(rng=rng).as_matrix()
    target = 1.7 * points @ rotation.T + rng.normal(size=3) + 0.1 * rng.normal(size=(24, 3))
    aligned = metrics.procrustes_align(points, target)
    np.testing.assert_allclose(aligned, umeyama(points, target), atol=1e-9)
    assert np.abs(aligned - target).max() > 1e-2  # The noise is left.


def test_procrustes_never_reflects():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(24, 3)) * [3.0, 2.0, 1.0]
    mirror = np.diag([1.0, 1.0, -1.0])
    target = points @ mirror + 0.01 * rng.normal(size=(24, 3))
    # The best orthogonal map is a reflection here.
    u, _, vt = np.linalg.svd((points - points.mean(0)).T @ (target - target.mean(0)))
    assert np.linalg.det(u @ vt) < 0
    aligned = metrics.procrustes_align(points, target)
    linear = fitted_linear_map(points, aligned)  # scale x rotation
    assert np.linalg.det(linear) > 0
    scale = np.cbrt(np.linalg.det(linear))
    np.testing.assert_allclose(linear.T @ linear, scale ** 2 * np.eye(3), atol=1e-9)
    np.testing.assert_allclose(aligned, umeyama(points, target), atol=1e-9)


# --- PCKh --------------------------------------------------------------------------


def test_pckh_counts_joints_within_half_the_target_head_size():
    # The head segment (joints 0 and 1) of the target is 10 long: the threshold is 5.
    target = np.array([[0.0, 0.0], [6.0, 8.0], [10.0, 10.0], [20.0, 20.0], [30.0, 0.0]])
    offsets = np.array([[0.0, 0.0], [3.0, 4.0], [3.0, 4.0001], [-5.0, 0.0], [0.0, 6.0]])
    prediction = target + offsets  # Distances 0, 5, 5.00008, 5, 6.
    # The predicted head is 15 long: a threshold from it would accept joint 2.
    assert metrics.pckh(prediction, target, (0, 1)) == 3 / 5
    assert metrics.pckh(prediction, target, (1, 0)) == 3 / 5
    assert metrics.pckh(target, target, (0, 1)) == 1.0
    assert metrics.pckh(target + [[0.0, 5.5]], target, (0, 1)) == 0.0


# --- Rotation distance -----------------------------------------------------------


def sample(rotations_pred, rotations_true, joints_pred=None, joints_true=None):
    zeros = np.zeros((len(rotations_pred), 3))
    joints_pred = zeros if joints_pred is None else joints_pred
    joints_true = zeros if joints_true is None else joints_true
    points_2d = np.array([[0.0, 0.0], [0.0, 1.0]] * (len(joints_pred) // 2))
    return metrics.sample_metrics(joints_pred, joints_true, points_2d, points_2d,
                                  rotations_pred, rotations_true, (0, 1))


@pytest.mark.parametrize("seed", [0, 1])
def test_err_quat_is_the_mean_relative_rotation_angle(seed):
    rng = np.random.default_rng(seed)
    first, second = Rotation.random(24, rng=rng), Rotation.random(24, rng=rng)
    expected = (first.inv() * second).magnitude()
    got = sample(first.as_matrix().astype(np.float32), second.as_matrix().astype(np.float32))
    assert abs(got["err_quat"] - expected.mean()) < 1e-5


def test_err_quat_of_small_and_zero_angles():
    rng = np.random.default_rng(2)
    first = Rotation.random(24, rng=rng)
    angles = np.r_[np.zeros(8), np.full(8, 1e-3), np.full(8, 1e-2)]
    axes = rng.normal(size=(24, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    second = first * Rotation.from_rotvec(axes * angles[:, None])
    matrices = first.as_matrix().astype(np.float32), second.as_matrix().astype(np.float32)
    assert abs(sample(*matrices)["err_quat"] - angles.mean()) < 1e-5
    assert sample(matrices[0], matrices[0])["err_quat"] < 1e-5


def test_quaternion_distance_is_sign_invariant_in_float32():
    rng = np.random.default_rng(3)
    first, second = Rotation.random(50, rng=rng), Rotation.random(50, rng=rng)
    q1 = first.as_quat(scalar_first=True).astype(np.float32)
    q2 = second.as_quat(scalar_first=True).astype(np.float32)
    expected = (first.inv() * second).magnitude()
    for a, b in ((q1, q2), (-q1, q2), (q1, -q2), (-q1, -q2)):
        np.testing.assert_allclose(geometry.quaternion_distance(a, b), expected, atol=1e-5)
    np.testing.assert_allclose(geometry.quaternion_distance(q1, -q1), 0.0, atol=1e-5)
    np.testing.assert_allclose(geometry.quaternion_distance(q1, q1), 0.0, atol=1e-5)


# --- Joint errors ----------------------------------------------------------------


def test_joint_errors_in_millimetres():
    true = np.array([[0.0, 0.0, 0.0], [0.3, 0.0, 0.0], [0.0, 0.4, 0.0], [0.0, 0.0, 0.5]])
    rotations = np.broadcast_to(np.eye(3), (4, 3, 3))
    # A shift by 2 cm: 20 mm before alignment, none after.
    shifted = sample(rotations, rotations, true + [0.0, 0.02, 0.0], true)
    np.testing.assert_allclose(shifted["err_joints3D"], 20.0, rtol=1e-6)
    np.testing.assert_allclose(shifted["recon_err"], 0.0, atol=1e-9)
    # One joint 3 cm off: (0 + 0 + 0 + 30) / 4 mm before alignment.
    moved = true.copy()
    moved[3, 2] += 0.03
    one_off = sample(rotations, rotations, moved, true)
    np.testing.assert_allclose(one_off["err_joints3D"], 7.5, rtol=1e-6)
    recon = np.linalg.norm(umeyama(moved, true) - true, axis=1).mean() * 1000
    np.testing.assert_allclose(one_off["recon_err"], recon, rtol=1e-9)
    assert one_off["recon_err"] > 1.0  # Least squares spreads the error over all joints.
    # A scaled and rotated copy has no reconstruction error.
    turned = 1.3 * true @ Rotation.from_rotvec([0.2, -0.5, 0.9]).as_matrix().T
    assert sample(rotations, rotations, turned, true)["recon_err"] < 1e-9
    assert shifted["pckh"] == 1.0


# --- Quartiles --------------------------------------------------------------------


def test_quartile_ids_follow_the_error_order():
    ids = np.array(["a", "b", "c", "d", "e"])
    errors = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    assert metrics.quartile_ids(ids, errors) == {
        "q0": "b", "q25": "d", "q50": "e", "q75": "c", "q100": "a"}
    ids = np.array([f"s{k}" for k in range(9)])
    errors = np.array([0.7, 0.1, 0.9, 0.3, 0.5, 0.2, 0.8, 0.4, 0.6])
    # In error order: s1 s5 s3 s7 s4 s8 s0 s6 s2; positions 0, 2, 4, 6 and 8.
    assert metrics.quartile_ids(ids, errors) == {
        "q0": "s1", "q25": "s3", "q50": "s4", "q75": "s0", "q100": "s2"}
