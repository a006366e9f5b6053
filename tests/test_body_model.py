"""Specifications of the body-model container, loader and saver."""
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse

from neural_body_fitting import constants
from neural_body_fitting.body import body_model
from neural_body_fitting.body.resolve import resolve_body_model


def random_model(num_vertices=60, seed=0):
    """A small random SMPL-format model (valid shapes, arbitrary values)."""
    rng = np.random.default_rng(seed)
    weights = rng.random((num_vertices, 24)) ** 4
    regressor = rng.random((24, num_vertices))
    return body_model.make_body_model(
        v_template=rng.normal(size=(num_vertices, 3)),
        shapedirs=rng.normal(size=(num_vertices, 3, 10)),
        posedirs=rng.normal(size=(num_vertices, 3, 207)),
        J_regressor=regressor / regressor.sum(1, keepdims=True),
        weights=weights / weights.sum(1, keepdims=True),
        parents=constants.SMPL_PARENTS,
        faces=rng.integers(0, num_vertices, size=(40, 3)),
        landmark_vertex_ids=[1, 2],
        mirror_vertex_ids=rng.permutation(num_vertices),
        name="random")


def assert_same_model(loaded, original):
    for field in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents",
                  "faces", "part24", "part12", "landmark_vertex_ids", "mirror_vertex_ids"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(original, field), field)


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_save_load_round_trip(tmp_path, suffix):
    model = random_model()
    path = body_model.save_body_model(model, tmp_path / f"model{suffix}")
    assert_same_model(body_model.load_body_model(path), model)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp")]


def test_pickle_uses_the_standard_smpl_format(tmp_path):
    model = random_model()
    path = body_model.save_body_model(model, tmp_path / "model.pkl")
    with open(path, "rb") as stream:
        data = pickle.load(stream, encoding="latin1")
    assert isinstance(data, dict)
    assert isinstance(data["J_regressor"], scipy.sparse.csc_matrix)
    np.testing.assert_allclose(data["J_regressor"].toarray(), model.J_regressor)
    assert data["kintree_table"].shape == (2, 24)
    assert data["kintree_table"][0, 0] == 2 ** 32 - 1
    np.testing.assert_array_equal(data["kintree_table"][0, 1:], constants.SMPL_PARENTS[1:])
    assert data["f"].dtype == np.uint32
    for key, shape in [("v_template", (60, 3)), ("shapedirs", (60, 3, 10)),
                       ("posedirs", (60, 3, 207)), ("weights", (60, 24)), ("J", (24, 3))]:
        assert isinstance(data[key], np.ndarray) and data[key].shape == shape, key
    np.testing.assert_allclose(data["J"], model.J_regressor @ model.v_template)


def _chumpy_pickle(model):
    """Pickles `model` the way SMPL's files are: chumpy Ch arrays, sparse regressor.

    A stand-in `chumpy.ch` module provides a `Ch` class whose pickled form
    (NEWOBJ + BUILD with a __dict__ holding 'x') is chumpy's; it is removed
    before loading, so the loader sees a stream it cannot resolve by import.
    """
    module = types.ModuleType("chumpy.ch")
    package = types.ModuleType("chumpy")

    class Ch:
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()
            self.label = None

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module.Ch = Ch
    package.ch = module
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = package, module
    try:
        data = body_model.to_standard_dict(model)
        data["v_template"] = Ch(data["v_template"])
        data["shapedirs"] = Ch(data["shapedirs"])
        data["J_regressor"] = scipy.sparse.csc_matrix(model.J_regressor)
        return pickle.dumps(data, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def test_loads_chumpy_pickles_without_chumpy(tmp_path):
    model = random_model()
    stream = _chumpy_pickle(model)
    assert b"chumpy.ch" in stream
    with pytest.raises(ImportError):
        __import__("chumpy")
    path = tmp_path / "model.pkl"
    path.write_bytes(stream)
    assert_same_model(body_model.load_body_model(path), model)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_pickles_that_reference_other_globals(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Exploit(marker)}, protocol=2))
    with pytest.raises(ValueError, match=r"refusing to load global '(posix|os)\.system'"):
        body_model.load_body_model(path)
    assert not marker.exists()


def test_truncated_pickle_names_the_file(tmp_path):
    full = tmp_path / "full.pkl"
    body_model.save_body_model(random_model(), full)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(full.read_bytes()[:5000])
    with pytest.raises(ValueError, match="truncated.pkl"):
        body_model.load_body_model(truncated)


def test_truncated_npz_names_the_file(tmp_path):
    full = tmp_path / "full.npz"
    body_model.save_body_model(random_model(), full)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(full.read_bytes()[:3000])
    with pytest.raises(ValueError, match="truncated.npz"):
        body_model.load_body_model(truncated)


@pytest.mark.parametrize("key,value,message", [
    ("posedirs", np.zeros((60, 3, 200)), "posedirs' must have shape"),
    ("weights", np.zeros((60, 23)), "weights' must have shape"),
    ("weights", np.full((60, 24), -21 / 24), "weights' must have rows summing to 1 .*, got "
     "vertex 0's row sums to -21"),
    ("J_regressor", np.zeros((24, 59)), "J_regressor' must have shape"),
    ("v_template", np.full((60, 3), np.nan), "v_template' must be finite"),
])
def test_wrong_arrays_name_the_key(tmp_path, key, value, message):
    data = body_model.to_standard_dict(random_model())
    data[key] = value
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in data.items() if isinstance(v, np.ndarray)})
    with pytest.raises(ValueError, match=message):
        body_model.load_body_model(path)


def test_missing_key_is_named(tmp_path):
    data = body_model.to_standard_dict(random_model())
    del data["posedirs"]
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(ValueError, match="posedirs"):
        body_model.load_body_model(path)


def test_missing_file_explains_the_license(tmp_path):
    with pytest.raises(FileNotFoundError, match="licensed.*synthetic"):
        body_model.load_body_model(tmp_path / "basicModel_neutral.pkl")


def test_resolve_reads_the_environment_variable(tmp_path, monkeypatch):
    path = body_model.save_body_model(random_model(seed=3), tmp_path / "m.npz")
    monkeypatch.setenv(body_model.ENV_VAR, str(path))
    assert_same_model(resolve_body_model(), random_model(seed=3))
    monkeypatch.setenv(body_model.ENV_VAR, str(tmp_path / "missing.pkl"))
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        resolve_body_model()


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pkl"
    body_model.save_body_model(random_model(seed=1), path)
    before = path.read_bytes()

    def dump_then_fail(data, stream, protocol):
        stream.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(body_model.pickle, "dump", dump_then_fail)
    with pytest.raises(OSError, match="disk full"):
        body_model.save_body_model(random_model(seed=2), path)
    assert path.read_bytes() == before
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp")]
