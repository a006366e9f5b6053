"""Specifications of the SMPL layer against the independent NumPy reference."""
import gc
import weakref

import numpy as np
import pytest
import smpl_reference
import tensorflow as tf
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants, geometry
from neural_body_fitting.body import smpl
from neural_body_fitting.body.synthetic import synthetic_body_model


@pytest.fixture(scope="module")
def model():
    return synthetic_body_model()


@pytest.fixture(scope="module")
def layer64(model):
    return smpl.SMPL(model, dtype="float64", jit_compile=False)


@pytest.fixture(scope="module")
def layer32(model):
    return smpl.SMPL(model)


def random_parameters(batch, seed, scale=1.0):
    """Betas [B, 10] and axis-angle poses [B, 72] with large rotations (up to ~π)."""
    rng = np.random.default_rng(seed)
    betas = rng.normal(size=(batch, 10)) * 1.5
    axes = Rotation.random(batch * 24, random_state=seed).as_rotvec()
    pose = (axes * scale).reshape(batch, 72)
    translation = rng.normal(size=(batch, 3))
    return betas, pose, translation


def reference(model, betas, pose, translation):
    outputs = [smpl_reference.smpl_forward(
        model.v_template, model.shapedirs, model.posedirs, model.J_regressor, model.weights,
        model.parents, b, p, t) for b, p, t in zip(betas, pose, translation)]
    return {key: np.stack([o[key] for o in outputs]) for key in outputs[0]}


@pytest.mark.parametrize("layer_name,tolerance", [("layer64", 1e-10), ("layer32", 1e-5)])
def test_matches_independent_reference(request, model, layer_name, tolerance):
    layer = request.getfixturevalue(layer_name)
    betas, pose, translation = random_parameters(4, seed=1)
    expected = reference(model, betas, pose, translation)
    result = layer(betas, pose, translation)
    for key in ("vertices", "joints", "rest_joints"):
        error = np.abs(result[key].numpy() - expected[key]).max()
        assert error <= tolerance, (key, error)
    landmarks = np.concatenate([expected["joints"][:, constants.LANDMARK14_JOINTS],
                                expected["vertices"][:, model.landmark_vertex_ids]], axis=1)
    np.testing.assert_allclose(result["landmarks14"], landmarks, atol=tolerance)


def test_run_landmarks_are_the_14_landmarks_or_the_24_joints(layer64):
    result = layer64(*random_parameters(2, seed=4))
    assert smpl.run_landmarks(result, 14) is result["landmarks14"]
    assert smpl.run_landmarks(result, 24) is result["joints"]
    with pytest.raises(ValueError, match="14 or 24"):
        smpl.run_landmarks(result, 17)


def test_rotation_matrix_input_and_absolute_mode_agree(model, layer64):
    betas, pose, translation = random_parameters(3, seed=2)
    relative = geometry.axis_angle_to_matrix(pose.reshape(3, 24, 3))
    absolute = smpl_reference_absolute(relative.numpy(), model.parents)
    from_axis_angle = layer64(betas, pose, translation)
    from_matrices = layer64(betas, relative, translation)
    absolute_layer = smpl.SMPL(model, rotation_mode="absolute", dtype="float64",
                               jit_compile=False)
    from_absolute = absolute_layer(betas, absolute, translation)
    # Absolute axis-angle input: each joint's global rotation as a vector.
    from_absolute_axis_angle = absolute_layer(
        betas, Rotation.from_matrix(absolute.reshape(-1, 3, 3)).as_rotvec().reshape(3, 72),
        translation)
    for other in (from_matrices, from_absolute, from_absolute_axis_angle):
        for key in ("vertices", "joints", "landmarks14"):
            np.testing.assert_allclose(other[key], from_axis_angle[key], atol=1e-10)
    np.testing.assert_allclose(from_absolute["relative_rotations"], relative, atol=1e-12)
    np.testing.assert_allclose(from_axis_angle["absolute_rotations"], absolute, atol=1e-12)


def smpl_reference_absolute(relative, parents):
    return np.stack([smpl_reference.absolute_rotations(r, parents) for r in relative])


def test_landmark_only_path_equals_full_mesh(model, layer32):
    betas, pose, translation = random_parameters(2, seed=3)
    full = layer32(betas, pose, translation)
    cheap = layer32(betas, pose, translation, return_vertices=False)
    assert "vertices" not in cheap
    np.testing.assert_allclose(cheap["landmarks14"], full["landmarks14"], atol=1e-5)


def test_user_landmark_table(model):
    ids = np.array([0, 17, 4000, 6889])
    layer = smpl.SMPL(model, landmark_vertex_ids=ids, dtype="float64", jit_compile=False)
    betas, pose, translation = random_parameters(2, seed=4)
    for return_vertices in (True, False):
        result = layer(betas, pose, translation, return_vertices=return_vertices)
        expected = reference(model, betas, pose, translation)["vertices"][:, ids]
        np.testing.assert_allclose(result["extra_landmarks"], expected, atol=1e-10)


def test_fewer_betas_equal_zero_padding(layer64):
    betas, pose, _ = random_parameters(2, seed=5)
    padded = np.concatenate([betas[:, :4], np.zeros((2, 6))], axis=1)
    np.testing.assert_allclose(layer64(betas[:, :4], pose)["vertices"],
                               layer64(padded, pose)["vertices"], atol=1e-12)


def test_gradients_match_finite_differences(model):
    layer = smpl.SMPL(model, dtype="float64", jit_compile=False)
    betas, pose, translation = random_parameters(1, seed=6, scale=0.5)
    vertex_ids = [10, 3000, 6500]

    @tf.function(autograph=False)  # ~160 evaluations: one graph run each, not ~500 eager ops.
    def selected(b, p):
        result = layer(b, p, translation)
        return tf.concat([tf.gather(result["vertices"], vertex_ids, axis=1),
                          result["joints"]], axis=1)

    theoretical, numerical = tf.test.compute_gradient(
        selected, [tf.constant(betas), tf.constant(pose)], delta=1e-6)
    for analytic, finite in zip(theoretical, numerical):
        np.testing.assert_allclose(analytic, finite, atol=1e-6)


@pytest.mark.parametrize("with_translation", [True, False])
def test_compiled_gradient_equals_autodiff(model, with_translation):
    # TensorFlow differentiates the XLA-compiled forward pass: it must agree
    # with differentiating the uncompiled one.
    betas, pose, translation = random_parameters(2, seed=7, scale=0.7)
    weights = tf.constant(np.random.default_rng(0).normal(size=(2, model.num_vertices, 3)))
    gradients = []
    for jit in (False, True):
        layer = smpl.SMPL(model, dtype="float64", jit_compile=jit)
        inputs = [tf.constant(betas), tf.constant(pose), tf.constant(translation)]
        inputs = inputs if with_translation else inputs[:2]
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            result = layer(*inputs)
            loss = tf.reduce_sum(result["vertices"] * weights) + tf.reduce_sum(
                result["landmarks14"] ** 2)
        gradients.append(tape.gradient(loss, inputs))
    for plain, compiled in zip(*gradients):
        np.testing.assert_allclose(compiled, plain, rtol=1e-9, atol=1e-9)


def _traced_gradient_graph(layer, inputs):
    """A weak reference to the graph of a traced gradient step through `layer`."""

    @tf.function
    def step(b, p):
        with tf.GradientTape() as tape:
            tape.watch([b, p])
            loss = tf.reduce_sum(layer(b, p)["vertices"] ** 2)
        return tape.gradient(loss, [b, p])

    step(*inputs)
    return weakref.ref(step.get_concrete_function(*inputs).graph)


def test_a_traced_gradient_is_freed_with_its_function(layer32):
    # Each trainer traces its own step; a graph kept alive by SMPL (e.g. by a
    # tf.custom_gradient, whose closure TensorFlow's global gradient registry
    # keeps) would keep every trace's tensors and captured weights in memory.
    # (The step lives in a helper: tracing caches this frame's locals.)
    betas, pose, _ = random_parameters(2, seed=3)
    graph = _traced_gradient_graph(
        layer32, [tf.constant(betas, tf.float32), tf.constant(pose, tf.float32)])
    gc.collect()
    assert graph() is None


def test_works_inside_tf_function_and_xla(model, layer32):
    betas, pose, translation = random_parameters(2, seed=8)
    eager = layer32(betas, pose, translation)["vertices"]
    plain_layer = smpl.SMPL(model, jit_compile=False)
    for jit in (False, True):
        run = tf.function(lambda b, p: plain_layer(b, p, translation)["vertices"],
                          jit_compile=jit)
        np.testing.assert_allclose(run(tf.constant(betas, tf.float32),
                                       tf.constant(pose, tf.float32)), eager, atol=2e-5)


def test_mirrored_parameters_give_the_mirrored_mesh(model, layer64):
    # The synthetic model is exactly left/right symmetric, so mirroring the
    # pose must mirror every vertex onto its symmetric partner.
    betas, pose, _ = random_parameters(2, seed=9)
    result = layer64(betas, pose)
    mirrored = layer64(betas, geometry.mirror_axis_angle(pose))
    np.testing.assert_allclose(
        mirrored["vertices"].numpy()[:, model.mirror_vertex_ids],
        geometry.mirror_points(result["vertices"]), atol=1e-9)
    np.testing.assert_allclose(
        mirrored["joints"].numpy()[:, constants.MIRROR_JOINTS],
        geometry.mirror_points(result["joints"]), atol=1e-9)


@pytest.mark.parametrize("arguments,message", [
    ((np.zeros((2, 11)), np.zeros((2, 72))), "'betas' must have at most 10"),
    ((np.zeros((2,)), np.zeros((2, 72))), r"'betas' must have shape \[B, S\]"),
    ((np.zeros((2, 10)), np.zeros((2, 69))), r"'pose' must have shape \[B, 72\]"),
    ((np.zeros((2, 10)), np.zeros((2, 24, 3, 4))), "'pose' must have shape"),
    ((np.zeros((2, 10), np.int32), np.zeros((2, 72))), "'betas' must be a floating-point"),
    ((np.zeros((2, 10)), np.zeros((2, 72)), np.zeros((2, 2))), "'translation' must have shape"),
    (("garbage", np.zeros((2, 72))), "'betas' must be a floating-point"),
    ((np.zeros((2, 10)), object()), "'pose' must be a floating-point"),
    ((np.zeros((2, 10)), np.zeros((3, 72))), "'pose' has batch 3 but 'betas' has batch 2"),
    ((np.zeros((2, 10)), np.zeros((2, 72)), np.zeros((1, 3))),
     "'translation' has batch 1 but 'betas' has batch 2"),
])
def test_bad_input_names_the_argument(layer32, arguments, message):
    with pytest.raises(ValueError, match=message):
        layer32(*arguments)


@pytest.fixture(scope="module")
def unknown_shapes_call(layer32):
    """layer32 (XLA forward) in a tf.function that knows only the ranks of its inputs."""
    return tf.function(lambda b, p, t: layer32(b, p, t)["joints"], input_signature=[
        tf.TensorSpec([None, None]), tf.TensorSpec([None, None]), tf.TensorSpec([None, None])])


@pytest.mark.parametrize("shapes,message", [
    (((2, 10), (3, 72), (2, 3)), "'pose' and 'betas' must have the same batch size"),
    (((2, 10), (2, 72), (3, 3)), "'translation' and 'betas' must have the same batch size"),
    (((2, 10), (2, 69), (2, 3)), "'pose' must have shape [B, 72]"),
    (((2, 11), (2, 72), (2, 3)), "'betas' must have at most 10 components"),
    (((2, 10), (2, 72), (2, 2)), "'translation' must have shape [B, 3]"),
])
def test_bad_input_of_unknown_static_shape_names_the_argument(unknown_shapes_call, shapes,
                                                               message):
    # Checked at run time, outside the layer's XLA forward (XLA drops assertions).
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        unknown_shapes_call(*(tf.zeros(shape) for shape in shapes))
    # The message is printed as a string tensor: its quotes come escaped.
    assert message in str(error.value).replace("\\'", "'")


def output_shapes(result):
    return {key: tuple(value.shape) for key, value in result.items()}


def empty_shapes(num_vertices):
    return {"vertices": (0, num_vertices, 3), "joints": (0, 24, 3), "rest_joints": (0, 24, 3),
            "landmarks14": (0, 14, 3), "relative_rotations": (0, 24, 3, 3),
            "absolute_rotations": (0, 24, 3, 3)}


@pytest.mark.parametrize("jit", [False, True])
def test_empty_batch_gives_empty_outputs_and_zero_gradients(model, jit):
    layer = smpl.SMPL(model, jit_compile=jit)
    betas, translation = tf.zeros((0, 10)), tf.zeros((0, 3))
    in_function = tf.function(lambda b, p, t: layer(b, p, t), jit_compile=jit)
    for pose in (tf.zeros((0, 72)), tf.zeros((0, 24, 3, 3))):
        assert output_shapes(in_function(betas, pose, translation)) == empty_shapes(
            model.num_vertices)
        with tf.GradientTape() as tape:
            tape.watch([betas, pose, translation])
            result = layer(betas, pose, translation)
            loss = tf.reduce_sum(result["vertices"]) + tf.reduce_sum(result["joints"])
        assert output_shapes(result) == empty_shapes(model.num_vertices)
        gradients = tape.gradient(loss, [betas, pose, translation])
        for gradient, value in zip(gradients, [betas, pose, translation]):
            np.testing.assert_array_equal(gradient, tf.zeros_like(value))


@pytest.mark.parametrize("rotation_mode", smpl.ROTATION_MODES)
def test_unknown_static_batch_matches_eager(model, rotation_mode):
    layer = smpl.SMPL(model, rotation_mode=rotation_mode)
    betas, pose, translation = (tf.constant(value, tf.float32)
                                for value in random_parameters(2, seed=10, scale=0.5))
    matrices = geometry.axis_angle_to_matrix(tf.reshape(pose, [2, 24, 3]))
    for betas_value, pose_value, signature in [
            (betas, pose, [[None, 10], [None, 72], [None, 3]]),
            (betas, matrices, [[None, 10], [None, 24, 3, 3], [None, 3]]),
            # Only the ranks known, and fewer betas than the model has.
            (betas[:, :4], pose, [[None, None], [None, None], [None, None]])]:
        run = tf.function(layer, input_signature=[tf.TensorSpec(s) for s in signature])
        eager = layer(betas_value, pose_value, translation)
        for key, value in run(betas_value, pose_value, translation).items():
            np.testing.assert_allclose(value, eager[key], atol=1e-5, err_msg=key)
        empty = run(betas_value[:0], pose_value[:0], translation[:0])
        assert output_shapes(empty) == empty_shapes(model.num_vertices)


def test_unknown_rotation_mode_is_refused(model):
    with pytest.raises(ValueError, match="rotation_mode"):
        smpl.SMPL(model, rotation_mode="quaternion")
