"""SMPL-format body models: the in-memory container, a chumpy-free loader and a saver.

An SMPL model file, as distributed, is a Python-2 pickle of a dict whose arrays
are partly chumpy objects and whose `J_regressor` is a scipy sparse matrix.
`load_body_model` reads it through the restricted unpickler of
`body.safe_pickle`, which rebuilds those objects as NumPy arrays, refuses
every other global (a malicious pickle cannot run code) and bounds what a file
can make it allocate. `.npz` files with the same keys are read as well.

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
from neural_body_fitting.body import safe_pickle
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


# Skinning weights blend each vertex's joint transforms: rows that do not sum to 1
# scale the posed mesh. SMPL's own sum to 1 up to float32 rounding.
_WEIGHT_SUM_TOLERANCE = 1e-3


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
    row_sums = np.sum(model.weights, axis=1)
    if not np.allclose(row_sums, 1.0, atol=_WEIGHT_SUM_TOLERANCE):
        worst = int(np.argmax(np.abs(row_sums - 1.0)))
        _fail("weights", source, f"must have rows summing to 1 (within "
              f"{_WEIGHT_SUM_TOLERANCE})", f"vertex {worst}'s row sums to {row_sums[worst]:.6g}")
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
    arrays = {key: safe_pickle.to_array(data[key], key, source)
              for key in _REQUIRED_KEYS + _EXTRA_KEYS if key in data}
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            _fail(key, source, "must be a numeric array", f"dtype {value.dtype}")
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
        passes a bound of `body.safe_pickle` (the message names it), or a key has
        the wrong shape (the message names the key).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"body model file '{path}' does not exist. {_LICENSE_HINT}")
    raw = safe_pickle.read_file(path)
    if path.endswith(".npz"):
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
                data = {key: archive[key] for key in archive.files}
        except Exception as error:  # noqa: BLE001 - zip/npy errors of a damaged file.
            raise ValueError(f"{path}: not a readable .npz body model ({error})") from error
    else:
        data = safe_pickle.unpickle(raw, path)
    return _model_from_dict(data, path)


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
