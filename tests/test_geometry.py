"""Specifications of nbf.geometry against SciPy's rotations and explicit loops."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants, geometry

RNG = np.random.default_rng(7)


def random_axis_angles(count, rng=RNG):
    """Axis-angles covering tiny, ordinary and near-π angles, float64 [count, 3]."""
    axes = rng.normal(size=(count, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([
        [0.0, 1e-9, 1e-5, 1e-3, np.pi - 1e-3, np.pi - 1e-6],
        rng.uniform(0, np.pi, count - 6),
    ])
    return axes * angles[:, None]


def test_axis_angle_to_matrix_matches_scipy():
    axis_angles = random_axis_angles(200)
    expected = Rotation.from_rotvec(axis_angles).as_matrix()
    np.testing.assert_allclose(geometry.axis_angle_to_matrix(axis_angles), expected, atol=1e-12)
    float32 = geometry.axis_angle_to_matrix(axis_angles.astype(np.float32))
    np.testing.assert_allclose(float32, expected, atol=2e-6)


def test_matrix_to_axis_angle_inverts_rodrigues_including_near_pi():
    axis_angles = random_axis_angles(200)
    recovered = geometry.matrix_to_axis_angle(geometry.axis_angle_to_matrix(axis_angles)).numpy()
    # Angles below π are unique, so the vectors themselves must match.
    np.testing.assert_allclose(recovered, axis_angles, atol=1e-7)
    # At exactly π the axis sign is ambiguous: compare the rotations.
    half_turns = np.pi * np.eye(3)
    back = geometry.axis_angle_to_matrix(geometry.matrix_to_axis_angle(
        Rotation.from_rotvec(half_turns).as_matrix()))
    np.testing.assert_allclose(back, Rotation.from_rotvec(half_turns).as_matrix(), atol=1e-12)


@pytest.mark.parametrize("point", [np.zeros(3), np.array([1e-7, -2e-7, 5e-8]),
                                   np.array([0.3, -1.1, 0.4])])
def test_rodrigues_gradients_are_finite_and_match_finite_differences(point):
    theoretical, numerical = tf.test.compute_gradient(
        geometry.axis_angle_to_matrix, [tf.constant(point[None], tf.float64)])
    assert np.all(np.isfinite(theoretical[0]))
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


@pytest.mark.parametrize("point", [np.zeros(3), np.array([0.3, -1.1, 0.4])])
def test_matrix_to_axis_angle_gradient_is_finite(point):
    matrix = Rotation.from_rotvec(point).as_matrix()[None]
    with tf.GradientTape() as tape:
        tensor = tf.constant(matrix)
        tape.watch(tensor)
        result = geometry.matrix_to_axis_angle(tensor)
    assert np.all(np.isfinite(tape.gradient(result, tensor)))


def test_quaternions_match_scipy_and_round_trip():
    matrices = Rotation.from_rotvec(random_axis_angles(100)).as_matrix()
    quaternion = geometry.matrix_to_quaternion(matrices).numpy()
    expected = Rotation.from_matrix(matrices).as_quat(scalar_first=True)
    expected *= np.where(expected[:, :1] < 0, -1, 1)
    np.testing.assert_allclose(quaternion, expected, atol=1e-10)
    np.testing.assert_allclose(geometry.quaternion_to_matrix(quaternion), matrices, atol=1e-12)


def test_quaternion_distance_is_the_relative_rotation_angle():
    first = Rotation.from_rotvec(random_axis_angles(50))
    second = Rotation.from_rotvec(random_axis_angles(50, np.random.default_rng(3)))
    expected = (first.inv() * second).magnitude()
    distance = geometry.quaternion_distance(
        geometry.matrix_to_quaternion(first.as_matrix()),
        -geometry.matrix_to_quaternion(second.as_matrix()))  # Sign must not matter.
    np.testing.assert_allclose(distance, expected, atol=1e-6)


def explicit_chain(relative, parents):
    absolute = np.zeros_like(relative)
    for joint, parent in enumerate(parents):
        absolute[:, joint] = (relative[:, joint] if parent < 0
                              else absolute[:, parent] @ relative[:, joint])
    return absolute


def test_relative_to_absolute_matches_explicit_chain_and_inverts():
    relative = Rotation.from_rotvec(random_axis_angles(48)).as_matrix().reshape(2, 24, 3, 3)
    absolute = geometry.relative_to_absolute(relative).numpy()
    np.testing.assert_allclose(absolute, explicit_chain(relative, constants.SMPL_PARENTS),
                               atol=1e-12)
    np.testing.assert_allclose(geometry.absolute_to_relative(absolute), relative, atol=1e-12)


def test_compose_chain_on_deep_random_tree():
    rng = np.random.default_rng(0)
    parents = np.array([-1] + [rng.integers(0, joint) for joint in range(1, 40)])
    parents[1:10] = np.arange(0, 9)  # A path of depth 9 forces several jumping steps.
    local = Rotation.from_rotvec(rng.normal(size=(40, 3))).as_matrix()[None]
    np.testing.assert_allclose(geometry.compose_chain(local, parents),
                               explicit_chain(local, parents), atol=1e-12)
    assert len(geometry.chain_depth_schedule(parents)) == 4  # ceil(log2(depth 9 + 1)).


def test_project_to_so3_reproduces_u_vt_and_fixes_determinant_on_request():
    rng = np.random.default_rng(1)
    matrices = rng.normal(size=(64, 3, 3))
    u, _, vt = np.linalg.svd(matrices)
    np.testing.assert_allclose(geometry.project_to_so3(matrices), u @ vt, atol=1e-10)
    fixed = geometry.project_to_so3(matrices, force_positive_determinant=True).numpy()
    np.testing.assert_allclose(np.linalg.det(fixed), 1.0, atol=1e-10)
    flip = np.linalg.det(u @ vt) < 0
    assert flip.any() and (~flip).any()
    np.testing.assert_allclose(fixed[~flip], (u @ vt)[~flip], atol=1e-10)
    # With the fix, the result is the nearest rotation: no rotation is closer.
    candidates = Rotation.random(2000, random_state=3).as_matrix()
    best = np.min(np.linalg.norm(candidates[None] - matrices[flip][:, None], axis=(2, 3)), 1)
    assert np.all(np.linalg.norm(fixed[flip] - matrices[flip], axis=(1, 2)) <= best + 1e-9)


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("noise", [1e-3, 0.5])
def test_project_to_so3_gradient_matches_finite_differences(force, noise):
    # Near a rotation the singular values (nearly) repeat: where the SVD's own
    # gradient is ill-conditioned, the polar gradient must stay accurate.
    rng = np.random.default_rng(2)
    matrix = Rotation.random(random_state=4).as_matrix() + noise * rng.normal(size=(3, 3))
    theoretical, numerical = tf.test.compute_gradient(
        lambda m: geometry.project_to_so3(m, force), [tf.constant(matrix[None])], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


def test_project_to_so3_gradient_is_finite_at_exact_rotation():
    rotation = tf.constant(Rotation.random(5, random_state=5).as_matrix(), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(rotation)
        weights = tf.reshape(tf.range(9, dtype=tf.float32), [3, 3])
        loss = tf.reduce_sum(geometry.project_to_so3(rotation) * weights)
    assert np.all(np.isfinite(tape.gradient(loss, rotation)))


def test_mirroring_is_an_involution_and_consistent_between_representations():
    pose = random_axis_angles(48).reshape(2, 72)
    np.testing.assert_allclose(geometry.mirror_axis_angle(geometry.mirror_axis_angle(pose)), pose)
    rotations = geometry.axis_angle_to_matrix(pose.reshape(2, 24, 3))
    from_matrices = geometry.mirror_rotations(rotations)
    from_axis_angle = geometry.axis_angle_to_matrix(
        tf.reshape(geometry.mirror_axis_angle(pose), [2, 24, 3]))
    np.testing.assert_allclose(from_matrices, from_axis_angle, atol=1e-12)
    # Mirroring commutes with the kinematic chain (the tree is symmetric).
    np.testing.assert_allclose(
        geometry.relative_to_absolute(from_matrices),
        geometry.mirror_rotations(geometry.relative_to_absolute(rotations)), atol=1e-12)


def test_mirrored_rotation_acts_as_reflected_rotation():
    rotation = Rotation.random(random_state=6).as_matrix()
    point = np.array([0.2, -0.4, 0.9])
    stacked = np.broadcast_to(rotation, (24, 3, 3))
    mirrored = geometry.mirror_rotations(stacked).numpy()[0]
    reflect = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirrored @ (reflect @ point), reflect @ (rotation @ point))


def test_project_points_uses_the_original_camera():
    points = np.array([[[0.0, 0.0, 20.3], [0.1, -0.2, 10.0], [-0.5, 0.4, 25.0]]])
    pixels = geometry.project_points(points, resolution=224).numpy()[0]
    focal = 5000.0 * 224 / 512
    expected = focal * points[0, :, :2] / points[0, :, 2:] + 112.0
    np.testing.assert_allclose(pixels, expected)
    assert focal == 2187.5
    np.testing.assert_allclose(geometry.project_points(points, resolution=512)[0, 0], [256, 256])
    np.testing.assert_allclose(geometry.normalise_pixels(pixels)[0], [0.0, 0.0])
