"""SMPL-format body models: the in-memory container, a chumpy-free loader and a saver.

An SMPL model file, as distributed, is a Python-2 pickle of a dict whose arrays
are partly chumpy objects and whose `J_regressor` is a scipy sparse matrix.
`load_body_model` reads it through a restricted unpickler that rebuilds those
objects as NumPy arrays and refuses every other global, so a malicious pickle
cannot run code. `.npz` files with the same keys are read as well.

SMPL is licensed: users register and download it themselves and point the
library to it (`--smpl_model` flags, or the `NBF_SMPL_MODEL` environment
variable). Without one, the built-in synthetic model of
`neural_body_fitting.body.synthetic` is used everywhere (`body.resolve`).
"""
import dataclasses
import io
import os
import pickle
from typing import Optional

import numpy as np

from neural_body_fitting import constants
from neural_body_fitting.utils import files

ENV_VAR = "NBF_SMPL_MODEL"
SYNTHETIC = "synthetic"

_LICENSE_HINT = (
    "The SMPL model is licensed and is not shipped with neural_body_fitting: register at "
    "the SMPL website, download the model yourself and pass its path (for example "
    f"--smpl_model=/path/basicModel_neutral_lbs_10_207_0_v1.0.0.pkl or the {ENV_VAR} "
    "environment variable). To use the built-in synthetic SMPL-format model instead, "
    f"pass '{SYNTHETIC}' or call nbf.synthetic_body_model()."
)


@dataclasses.dataclass(frozen=True, eq=False)
class BodyModel:
    """An SMPL-format body model as NumPy arrays (float64).

    V vertices, F faces, J = 24 joints, S shape components.

    Attributes:
      v_template: [V, 3] rest-pose template vertices (metres).
      shapedirs: [V, 3, S] shape blend shapes.
      posedirs: [V, 3, 207] pose-corrective blend shapes, driven by the entries of
        (R_j - I) for joints 1..23, row-major per joint.
      J_regressor: [J, V] joint regressor (dense).
      weights: [V, J] linear-blend-skinning weights.
      parents: [J] parent of every joint, -1 for the root.
      faces: [F, 3] triangle vertex ids, counter-clockwise seen from outside.
      part24: [V] SMPL skinning part 0..23 of every vertex.
      part12: [V] NBF part label 1..12 of every vertex (docs/data.md, "Body parts").
      landmark_vertex_ids: [2] vertex ids of the neck and head-top landmarks that
        complete the 14-landmark set.
      mirror_vertex_ids: [V] the vertex each vertex maps to under a left/right
        mirror, or None if the model does not provide it.
      name: where the model came from (a path or "synthetic:<seed>"; either
        is a spec that `resolve_body_model` loads again).
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray
    part24: np.ndarray
    part12: np.ndarray
    landmark_vertex_ids: np.ndarray
    mirror_vertex_ids: Optional[np.ndarray] = None
    name: str = ""

    def __post_init__(self):
        _validate(self)

    @property
    def num_vertices(self):
        return self.v_template.shape[0]

    @property
    def num_betas(self):
        return self.shapedirs.shape[2]

    @property
    def num_joints(self):
        return self.parents.shape[0]


def _fail(key, source, expectation, got):
    raise ValueError(f"{source}: key '{key}' {expectation}, got {got}")


def _validate(model):
    """Checks shapes, dtypes and values; raises ValueError naming the key."""
    source = model.name or "body model"
    num_vertices = np.shape(model.v_template)[0] if np.ndim(model.v_template) == 2 else None
    if num_vertices is None or np.shape(model.v_template)[1] != 3:
        _fail("v_template", source, "must have shape [V, 3]", np.shape(model.v_template))
    joints = constants.NUM_JOINTS
    expected = {
        "shapedirs": (num_vertices, 3, None),
        "posedirs": (num_vertices, 3, constants.NUM_POSE_BLEND),
        "J_regressor": (joints, num_vertices),
        "weights": (num_vertices, joints),
        "parents": (joints,),
        "faces": (None, 3),
        "part24": (num_vertices,),
        "part12": (num_vertices,),
        "landmark_vertex_ids": (2,),
    }
    if model.mirror_vertex_ids is not None:
        expected["mirror_vertex_ids"] = (num_vertices,)
    for key, shape in expected.items():
        value = getattr(model, key)
        got = np.shape(value)
        if len(got) != len(shape) or any(e is not None and e != g for e, g in zip(shape, got)):
            pretty = "[" + ", ".join("any" if e is None else str(e) for e in shape) + "]"
            _fail(key, source, f"must have shape {pretty}", list(got))
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        if not np.all(np.isfinite(getattr(model, key))):
            _fail(key, source, "must be finite", "NaN or inf values")
    if model.parents[0] != -1 or np.any(model.parents[1:] < 0) or np.any(
        model.parents[1:] >= np.arange(1, joints)
    ):
        _fail("kintree_table", source, "must list parents before children with root -1",
              model.parents.tolist())
    for key, limit in (("faces", num_vertices), ("landmark_vertex_ids", num_vertices),
                       ("part24", joints), ("mirror_vertex_ids", num_vertices)):
        value = getattr(model, key)
        if value is not None and (value.min() < 0 or value.max() >= limit):
            _fail(key, source, f"must hold indices in [0, {limit})",
                  f"values in [{value.min()}, {value.max()}]")
    if model.part12.min() < 1 or model.part12.max() > constants.NUM_PARTS:
        _fail("part12", source, "must hold labels 1..12", "values outside")


def make_body_model(v_template, shapedirs, posedirs, J_regressor, weights, parents, faces,
                    part24=None, part12=None, landmark_vertex_ids=None,
                    mirror_vertex_ids=None, name=""):
    """Builds a BodyModel, converting dtypes and deriving optional fields.

    `part24` defaults to the argmax of the skinning weights, `part12` to the
    grouping of docs/data.md ("Body parts") (`constants.SMPL24_TO_PART12`), and the
    landmark vertices to the SMPL vertices of `default_landmark_vertex_ids`.
    """
    weights = np.asarray(weights, np.float64)
    if part24 is None:
        part24 = np.argmax(weights, axis=-1) if weights.ndim == 2 else np.zeros(0)
    part24 = np.asarray(part24, np.int64)
    if part12 is None:
        part12 = constants.SMPL24_TO_PART12[np.clip(part24, 0, constants.NUM_JOINTS - 1)]
    if landmark_vertex_ids is None:
        landmark_vertex_ids = SMPL_LANDMARK_VERTEX_IDS
    return BodyModel(
        v_template=np.asarray(v_template, np.float64),
        shapedirs=np.asarray(shapedirs, np.float64),
        posedirs=np.asarray(posedirs, np.float64),
        J_regressor=np.asarray(J_regressor, np.float64),
        weights=weights,
        parents=np.asarray(parents, np.int64),
        faces=np.asarray(faces, np.int64),
        part24=part24,
        part12=np.asarray(part12, np.int64),
        landmark_vertex_ids=np.asarray(landmark_vertex_ids, np.int64),
        mirror_vertex_ids=None if mirror_vertex_ids is None else np.asarray(mirror_vertex_ids,
                                                                            np.int64),
        name=name,
    )


# Neck and head-top vertices of the real SMPL topology (6890 vertices): the
# neck vertex lies on the front of the neck below the chin, the head-top
# vertex at the crown. Synthetic models carry their own ids.
SMPL_LANDMARK_VERTEX_IDS = np.array([3068, 411], dtype=np.int64)


# --- Restricted unpickling --------------------------------------------------------


class _ChumpyStandIn:
    """Takes the place of any chumpy class while unpickling.

    chumpy objects pickle as NEWOBJ/BUILD with their `__dict__` as state; a
    plain `Ch` keeps its value under 'x'. Expressions (sums, products, ...)
    cannot be evaluated without chumpy and are reported as such.
    """

    chumpy_class = "chumpy.Ch"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"x": state}

    def to_array(self, key, source):
        if "x" in self.state:
            return np.asarray(self.state["x"])
        raise ValueError(
            f"{source}: key '{key}' is a chumpy expression ({self.chumpy_class}) that cannot "
            "be evaluated without chumpy; re-save the model with plain arrays")


def _chumpy_stand_in(module, name):
    return type(name, (_ChumpyStandIn,), {"chumpy_class": f"{module}.{name}"})


class _SparseStandIn:
    """Takes the place of a scipy sparse matrix while unpickling (no scipy needed)."""

    fmt = "csc"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __setstate__(self, state):
        self.state = state

    def to_array(self, key, source):
        state = self.state
        try:
            shape = tuple(int(n) for n in state.get("_shape", state.get("shape")))
            dense = np.zeros(shape, np.float64)
            if self.fmt == "coo":
                rows, cols = np.asarray(state["row"]), np.asarray(state["col"])
                np.add.at(dense, (rows, cols), np.asarray(state["data"]))
                return dense
            data, indices, indptr = (np.asarray(state[k]) for k in ("data", "indices", "indptr"))
            major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            if self.fmt == "csc":
                np.add.at(dense, (indices, major), data)
            else:
                np.add.at(dense, (major, indices), data)
            return dense
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"{source}: key '{key}' is a malformed sparse matrix: {error}")


def _sparse_stand_in(fmt):
    return type(f"{fmt}_matrix", (_SparseStandIn,), {"fmt": fmt})


def _allowed_globals():
    import codecs
    import copyreg

    from numpy._core import multiarray  # NumPy >= 2 location of _reconstruct and scalar.

    allowed = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        # Python 3 writes bytes in protocol-2 pickles as _codecs.encode(text, 'latin1').
        ("_codecs", "encode"): codecs.encode,
    }
    # Python-2 module names as they appear in SMPL's files and in protocol-2 streams.
    for module in ("builtins", "__builtin__"):
        allowed.update({(module, "object"): object, (module, "set"): set,
                        (module, "frozenset"): frozenset})
    allowed[("copy_reg", "_reconstructor")] = copyreg._reconstructor
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    for fmt in ("csc", "csr", "coo"):
        for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}", "scipy.sparse"):
            allowed[(module, f"{fmt}_matrix")] = _sparse_stand_in(fmt)
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (see module docstring)."""

    def __init__(self, file, source):
        super().__init__(file, encoding="latin1")
        self._source = source
        self._allowed = _allowed_globals()

    def find_class(self, module, name):
        if module == "chumpy" or module.startswith("chumpy."):
            return _chumpy_stand_in(module, name)
        if (module, name) in self._allowed:
            return self._allowed[(module, name)]
        raise pickle.UnpicklingError(
            f"{self._source}: refusing to load global '{module}.{name}': only NumPy arrays, "
            "scipy sparse matrices and chumpy arrays are allowed in a body-model pickle")


def _to_array(value, key, source):
    if isinstance(value, (_ChumpyStandIn, _SparseStandIn)):
        return value.to_array(key, source)
    try:
        return np.asarray(value)
    except Exception as error:  # noqa: BLE001 - any conversion failure is reported by key.
        raise ValueError(f"{source}: key '{key}' is not an array ({type(value).__name__})") \
            from error


_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                  "kintree_table", "f")
# Keys of our own that extend the standard format (other SMPL tools ignore them).
_EXTRA_KEYS = ("part24", "part12", "landmark_vertex_ids", "vert_sym_idxs")


def _model_from_dict(data, source):
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a dict of SMPL arrays, got {type(data).__name__}")
    missing = [key for key in _REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f"{source}: missing key(s) {missing}; an SMPL model needs "
                         f"{list(_REQUIRED_KEYS)}")
    arrays = {key: _to_array(data[key], key, source)
              for key in _REQUIRED_KEYS + _EXTRA_KEYS if key in data}
    kintree = arrays["kintree_table"]
    if kintree.ndim != 2 or kintree.shape[0] != 2:
        _fail("kintree_table", source, "must have shape [2, 24]", list(kintree.shape))
    # The root's parent is stored as uint32(-1) = 4294967295 in SMPL's files.
    parents = kintree[0].astype(np.int64)
    parents[parents >= 2 ** 31] = -1
    parents[0] = -1
    extra = {
        "part24": arrays.get("part24"),
        "part12": arrays.get("part12"),
        "landmark_vertex_ids": arrays.get("landmark_vertex_ids"),
        "mirror_vertex_ids": arrays.get("vert_sym_idxs"),
    }
    for key, value in arrays.items():
        if value.dtype == object:
            _fail(key, source, "must be a numeric array", "an object array")
    return make_body_model(
        v_template=arrays["v_template"], shapedirs=arrays["shapedirs"],
        posedirs=arrays["posedirs"], J_regressor=arrays["J_regressor"],
        weights=arrays["weights"], parents=parents, faces=arrays["f"], name=str(source),
        **extra)


def load_body_model(path):
    """Loads an SMPL-format model from `.pkl` (as distributed, no chumpy needed) or `.npz`.

    Args:
      path: file path (`resolve_body_model` also accepts 'synthetic').

    Returns:
      A validated BodyModel.

    Raises:
      FileNotFoundError: the file does not exist (the message explains the license).
      ValueError: the file is truncated, not a model, refers to a forbidden global,
        or a key has the wrong shape (the message names the key).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"body model file '{path}' does not exist. {_LICENSE_HINT}")
    with open(path, "rb") as stream:
        raw = stream.read()
    if path.endswith(".npz"):
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
                data = {key: archive[key] for key in archive.files}
        except Exception as error:  # noqa: BLE001 - zip/npy errors of a damaged file.
            raise ValueError(f"{path}: not a readable .npz body model ({error})") from error
    else:
        data = _safe_unpickle(raw, path)
    return _model_from_dict(data, path)


def _safe_unpickle(raw, path):
    try:
        return _RestrictedUnpickler(io.BytesIO(raw), path).load()
    except pickle.UnpicklingError as error:
        message = str(error)
        if not message.startswith(path):  # Our refusals already name the file.
            message = f"{path}: not a readable pickle ({message})"
        raise ValueError(message) from error
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
        raise ValueError(f"{path}: not a readable pickle (truncated or damaged: "
                         f"{type(error).__name__}: {error})") from error


def safe_load_pickle(path):
    """Loads a pickle of arrays (e.g. an SMPL fit) with the restricted unpickler.

    Chumpy arrays and sparse matrices come back as NumPy arrays; any other
    global is refused. Returns the unpickled object with stand-ins converted.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file does not exist")
    with open(path, "rb") as stream:
        data = _safe_unpickle(stream.read(), path)
    if isinstance(data, dict):
        return {key: _to_array(value, key, path) if isinstance(
            value, (_ChumpyStandIn, _SparseStandIn)) else value for key, value in data.items()}
    return data


def to_standard_dict(model):
    """The model as the standard SMPL dict of NumPy arrays (plus our extra keys)."""
    kintree = np.stack([model.parents, np.arange(model.num_joints)]).astype(np.int64)
    kintree[0, 0] = 2 ** 32 - 1  # SMPL stores the root's parent as uint32(-1).
    data = {
        "v_template": model.v_template,
        "shapedirs": model.shapedirs,
        "posedirs": model.posedirs,
        "J_regressor": model.J_regressor,
        "J": model.J_regressor @ model.v_template,
        "weights": model.weights,
        "kintree_table": kintree,
        "f": model.faces.astype(np.uint32),
        "bs_type": "lrotmin",
        "bs_style": "lbs",
        "part24": model.part24,
        "part12": model.part12,
        "landmark_vertex_ids": model.landmark_vertex_ids,
    }
    if model.mirror_vertex_ids is not None:
        data["vert_sym_idxs"] = model.mirror_vertex_ids
    return data


def save_body_model(model, path):
    """Writes `model` as `.pkl` (standard SMPL keys, sparse J_regressor) or `.npz`.

    The pickle (protocol 2) holds plain NumPy arrays and a scipy `csc_matrix`
    J_regressor, as SMPL's own files do, so other SMPL tools read it. The file
    is written to a temporary name and renamed, so an existing file is never
    left half-written.
    """
    path = os.fspath(path)
    data = to_standard_dict(model)
    with files.atomic_open(path) as stream:
        if path.endswith(".npz"):
            np.savez(stream, **{k: v for k, v in data.items() if isinstance(v, np.ndarray)})
        else:
            import scipy.sparse

            data["J_regressor"] = scipy.sparse.csc_matrix(model.J_regressor)
            pickle.dump(data, stream, protocol=2)
    return path
