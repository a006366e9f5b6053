"""Specifications of the built-in synthetic SMPL-format body model."""
import os

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph

from neural_body_fitting import constants
from neural_body_fitting.body import resolve, synthetic
from neural_body_fitting.body.synthetic import synthetic_body_model

REFLECT = np.array([-1.0, 1.0, 1.0])


@pytest.fixture(scope="module")
def model():
    return synthetic_body_model()


def edges_of(faces):
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def test_sizes_match_smpl(model):
    assert model.v_template.shape == (6890, 3)
    assert model.faces.shape == (13776, 3)
    assert model.shapedirs.shape == (6890, 3, 10)
    assert model.posedirs.shape == (6890, 3, 207)
    assert model.J_regressor.shape == (24, 6890)
    assert model.weights.shape == (6890, 24)
    np.testing.assert_array_equal(model.parents, constants.SMPL_PARENTS)


def test_mesh_is_a_closed_oriented_sphere(model):
    faces = model.faces
    directed = edges_of(faces)
    # Every directed edge once and its reverse once: closed and consistently oriented.
    assert len(np.unique(directed, axis=0)) == len(directed)
    undirected, counts = np.unique(np.sort(directed, 1), axis=0, return_counts=True)
    assert np.all(counts == 2)
    assert len(model.v_template) - len(undirected) + len(faces) == 2  # Euler: genus 0.
    adjacency = scipy.sparse.coo_matrix(
        (np.ones(len(directed)), (directed[:, 0], directed[:, 1])), shape=(6890, 6890))
    assert scipy.sparse.csgraph.connected_components(adjacency)[0] == 1
    corners = model.v_template[faces]
    areas = np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]),
                           axis=1) / 2
    assert areas.min() > 1e-8
    # Outward orientation: positive signed volume of about a human's 0.06-0.09 m³.
    volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6
    assert 0.05 < volume < 0.1


def test_weights_and_regressor_are_convex(model):
    assert model.weights.min() >= 0
    np.testing.assert_allclose(model.weights.sum(1), 1.0, atol=1e-12)
    assert model.J_regressor.min() >= 0
    np.testing.assert_allclose(model.J_regressor.sum(1), 1.0, atol=1e-12)


def test_human_proportions(model):
    vertices = model.v_template
    height = vertices[:, 1].max() - vertices[:, 1].min()
    assert 1.6 < height < 1.8
    arm_span = vertices[:, 0].max() - vertices[:, 0].min()
    assert 0.95 * height < arm_span < 1.1 * height
    joints = model.J_regressor @ vertices
    assert joints[15, 1] > joints[12, 1] > joints[9, 1] > joints[0, 1] > joints[4, 1] > joints[7, 1]
    assert joints[20, 0] > joints[18, 0] > joints[16, 0] > 0  # Left arm along +x.
    assert joints[10, 2] > joints[7, 2]  # Feet point forwards (+z).


def winding_numbers(vertices, faces, points):
    """Solid angle sum / 4π of the closed mesh seen from each point (1 inside, 0 outside)."""
    a, b, c = (vertices[faces[:, k]][None] - points[:, None] for k in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    numerator = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    denominator = (la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc
                   + np.einsum("pfi,pfi->pf", b, c) * la + np.einsum("pfi,pfi->pf", c, a) * lb)
    return 2 * np.arctan2(numerator, denominator).sum(1) / (4 * np.pi)


def test_joints_lie_inside_the_body(model):
    joints = model.J_regressor @ model.v_template
    inside = winding_numbers(model.v_template, model.faces, joints)
    np.testing.assert_allclose(inside, 1.0, atol=1e-6)
    outside = joints + np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(winding_numbers(model.v_template, model.faces, outside), 0.0,
                               atol=1e-6)


def test_exact_mirror_symmetry(model):
    mirror = model.mirror_vertex_ids
    np.testing.assert_array_equal(mirror[mirror], np.arange(6890))
    np.testing.assert_array_equal(model.v_template[mirror], model.v_template * REFLECT)
    mirrored_faces = {tuple(sorted(f)) for f in mirror[model.faces].tolist()}
    assert mirrored_faces == {tuple(sorted(f)) for f in model.faces.tolist()}
    np.testing.assert_array_equal(model.weights[mirror][:, constants.MIRROR_JOINTS],
                                  model.weights)
    np.testing.assert_array_equal(model.J_regressor[constants.MIRROR_JOINTS][:, mirror],
                                  model.J_regressor)
    np.testing.assert_array_equal(model.shapedirs[mirror], model.shapedirs * REFLECT[:, None])
    np.testing.assert_array_equal(model.part24[mirror], constants.MIRROR_JOINTS[model.part24])


def test_pose_correctives_are_mirror_equivariant_and_not_zero(model):
    # Mirroring a pose maps the feature vec(R_j - I) to Q times it.
    sign = np.outer(REFLECT, REFLECT).ravel()
    q = np.zeros((207, 207))
    for joint in range(1, 24):
        source = constants.MIRROR_JOINTS[joint]
        for entry in range(9):
            q[(joint - 1) * 9 + entry, (source - 1) * 9 + entry] = sign[entry]
    feature = np.random.default_rng(0).normal(size=207)
    offsets = model.posedirs @ feature
    mirrored = model.posedirs[model.mirror_vertex_ids] @ (q @ feature)
    np.testing.assert_allclose(mirrored, offsets * REFLECT, atol=1e-15)
    assert np.abs(model.posedirs).max() > 1e-3


def test_shape_components_have_their_named_effects(model):
    def height(betas):
        vertices = model.v_template + model.shapedirs @ betas
        return vertices[:, 1].max() - vertices[:, 1].min()

    stature = np.eye(10)[0]
    heights = [height(k * stature) for k in (-3, -1, 0, 1, 3)]
    assert np.all(np.diff(heights) > 0.01)
    leg = np.eye(10)[2]
    assert height(leg) > height(0 * leg)
    # Every component moves the surface, and |β| = 3 keeps a valid size.
    assert np.all(np.abs(model.shapedirs).max(axis=(0, 1)) > 1e-3)
    for component in range(10):
        for beta in (-3, 3):
            assert 1.4 < height(beta * np.eye(10)[component]) < 2.0


def test_every_part_is_present_and_connected(model):
    directed = edges_of(model.faces)
    for labels, values in ((model.part12, range(1, 13)), (model.part24, range(24))):
        for value in values:
            members = np.flatnonzero(labels == value)
            assert len(members) > 0, value
            inside = np.isin(directed, members).all(1)
            sub = scipy.sparse.coo_matrix(
                (np.ones(inside.sum()), (directed[inside, 0], directed[inside, 1])),
                shape=(6890, 6890)).tocsr()[members][:, members]
            assert scipy.sparse.csgraph.connected_components(sub)[0] == 1, value


def test_landmarks_are_neck_and_head_top(model):
    neck, head_top = model.v_template[model.landmark_vertex_ids]
    assert head_top[1] == model.v_template[:, 1].max()
    assert model.part12[model.landmark_vertex_ids[1]] == 1  # Head.
    joints = model.J_regressor @ model.v_template
    assert joints[9, 1] < neck[1] < joints[15, 1] and neck[2] > joints[12, 2]


def test_deterministic_and_seeded(model):
    again = synthetic.build_synthetic_body_model(0)
    assert resolve.fingerprint(again) == resolve.fingerprint(model)
    other = synthetic_body_model(1)
    assert not np.array_equal(other.v_template, model.v_template)
    with pytest.raises(ValueError):
        model.v_template[0, 0] = 1.0  # Cached arrays are read-only.


def test_the_cache_folder_keeps_the_built_model_and_rebuilds_a_damaged_file(
        model, tmp_path, monkeypatch):
    builds = []
    monkeypatch.setattr(synthetic, "build_synthetic_body_model",
                        lambda seed: builds.append(seed) or model)
    monkeypatch.setenv("NBF_CACHE", str(tmp_path))
    path = synthetic.cached_model_path(0)
    assert path.startswith(str(tmp_path / "synthetic_body"))
    load = synthetic_body_model.__wrapped__  # Past the in-process cache.
    assert resolve.fingerprint(load(0)) == resolve.fingerprint(model) and builds == [0]
    assert os.path.isfile(path)
    read = load(0)
    assert builds == [0], "the cached file was not used"
    assert read is not model and read.name == "synthetic:0"
    assert resolve.fingerprint(read) == resolve.fingerprint(model)
    with open(path, "r+b") as stream:
        stream.truncate(1000)
    assert resolve.fingerprint(load(0)) == resolve.fingerprint(model) and builds == [0, 0]
    assert resolve.fingerprint(load(0)) == resolve.fingerprint(model) and builds == [0, 0], (
        "the damaged file was not replaced")
    # Another seed, another key; an unwritable cache only means building every time.
    assert synthetic.cached_model_path(1) != path
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("NBF_CACHE", str(tmp_path / "file"))
    assert load(0) is model and load(0) is model and builds == [0, 0, 0, 0]
