"""Conversion of the public UP-3D release into the original NBF layout.

A UP-3D sample is an image with an SMPL fit made by SMPLify: `pose` (72),
`betas` (10), `trans` (3) and a perspective camera (`f`, rotation `rt`,
translation `t`, principal point `cam_c`, by default the centre of the fit's
frame). `fit_crop_info.txt` holds `height width y0 y1 x0 x1`: the fit's
pixel (u, v) is the image's pixel (u + x0, v + y0).

Scale normalisation (the paper's "scale ambiguity"): the camera rotation is
folded into the global orientation; the body is then rotated about its root
so that the root's viewing ray becomes the one of the fixed translation, and
moved to that position (`constants.FIXED_TRANSLATION`), so its size in the
crop only depends on its shape. The image follows with the similarity that
maps the root's old image position to its new one and scales by the change of
focal length and depth; a 512 x 512 crop is cut with it. Part maps are then
rendered from the normalised parameters with the given body model.
"""
import math
import os

import cv2
import numpy as np
from absl import logging
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants, geometry, render
from neural_body_fitting.body import safe_pickle
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import encodings, layout
from neural_body_fitting.utils import images


def read_joints(path):
    """The [2 or 3, 14] 2D joints (x; y; visibility) of a UP-3D sample's `.npy` file.

    The header's shape and dtype are checked before any data is read, so a
    header declaring a huge array costs nothing; errors name the file.
    """
    with open(path, "rb") as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy format version {version}")
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(stream)
            if shape not in ((2, 14), (3, 14)):
                raise ValueError(f"expected shape (2, 14) or (3, 14), got {shape}")
            if dtype.kind not in "biuf":
                raise ValueError(f"expected numbers, got dtype {dtype}")
            data = bytearray(math.prod(shape) * dtype.itemsize)
            if stream.readinto(data) != len(data):
                raise ValueError(f"truncated: fewer than the {len(data)} data bytes its "
                                 f"header declares")
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")


def _fit_values(fit, key, size, path):
    """fit[key] as `size` float64 values; float64 also keeps conversion bounded."""
    try:
        values = np.asarray(fit[key], np.float64).reshape(-1)
    except (KeyError, TypeError, ValueError):
        values = None
    if values is None or values.size != size:
        raise ValueError(f"{path}: key '{key}' must hold {size} values")
    return values


def _camera_values(fit, key, default, size, path):
    try:
        values = np.asarray(fit.get(key, default), np.float64).reshape(-1)
        return np.broadcast_to(values, (size,)).copy()
    except (TypeError, ValueError):
        raise ValueError(f"{path}: key '{key}' must hold 1 or {size} numbers") from None


def read_release_sample(release_dir, sample_id):
    """One UP-3D sample: image, fit parameters, camera, 2D joints, crop offset."""
    prefix = os.path.join(release_dir, sample_id)
    path = f"{prefix}_body.pkl"
    fit = safe_pickle.safe_load_pickle(path)
    if not isinstance(fit, dict):
        raise ValueError(f"{path}: expected a dict of SMPL fit parameters")
    params = {key: _fit_values(fit, key, size, path)
              for key, size in (("pose", 72), ("betas", 10), ("trans", 3), ("t", 3), ("rt", 3))}
    image = images.read_image(f"{prefix}_image.png")
    try:
        crop = np.loadtxt(f"{prefix}_fit_crop_info.txt", dtype=np.int64).reshape(-1)
    except (OSError, ValueError) as error:
        raise ValueError(f"{prefix}_fit_crop_info.txt: {error}") from error
    if crop.shape != (6,):
        raise ValueError(f"{prefix}_fit_crop_info.txt: expected 6 integers, got {crop.size}")
    joints = read_joints(f"{prefix}_joints.npy")
    height, width = crop[:2]
    if height <= 0 or width <= 0:
        raise ValueError(f"{prefix}_fit_crop_info.txt: crop height and width must be positive, "
                         f"got {height} x {width}")
    focal = _camera_values(fit, "f", 5000.0, 2, path)
    centre = _camera_values(fit, "cam_c", (width / 2.0, height / 2.0), 2, path)
    for key, values in (*params.items(), ("f", focal), ("cam_c", centre)):
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{path}: key '{key}' holds NaN or infinite values")
    if np.any(focal <= 0):
        raise ValueError(f"{path}: focal length 'f' must be positive, got {focal.tolist()}")
    return {
        "image": image, **params, "focal": focal, "centre": centre,
        "offset": np.array([crop[4], crop[2]], np.float64),  # (x0, y0)
        "joints_2d": joints[:2].T, "visible": np.all(joints[:2] > 0, axis=0),
    }


def _rotation_between(a, b):
    """The smallest rotation [3, 3] taking direction a to direction b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    angle = np.arctan2(np.linalg.norm(axis), a @ b)
    if np.linalg.norm(axis) < 1e-12:
        return np.eye(3)
    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def normalise(sample, rest_root):
    """Normalised (pose [72], translation [3]) and the image similarity (scale, src, dst).

    Args:
      sample: from `read_release_sample`.
      rest_root: [3] the rest pelvis J(β)[0] of the sample's betas.
    The similarity maps an image pixel x to  dst + scale * (x - src)  in the
    512 crop (continuous pixel coordinates).
    """
    camera = Rotation.from_rotvec(sample["rt"]).as_matrix()
    root = Rotation.from_rotvec(sample["pose"][:3]).as_matrix()
    # Camera space: X = R_c (M(pose) + trans) + t, with M rotating about J0.
    root_position = camera @ (rest_root + sample["trans"]) + sample["t"]
    target = rest_root + constants.FIXED_TRANSLATION
    turn = _rotation_between(root_position, target)
    pose = sample["pose"].copy()
    pose[:3] = Rotation.from_matrix(turn @ camera @ root).as_rotvec()
    focal = sample["focal"].mean()
    src = focal * root_position[:2] / root_position[2] + sample["centre"] + sample["offset"]
    dst = geometry.project_points(target[None], constants.CROP_SIZE).numpy()[0]
    scale = constants.FOCAL_LENGTH_512 / focal * root_position[2] / target[2]
    return pose, constants.FIXED_TRANSLATION.copy(), (scale, src, dst)


# A crop with less of the photograph than this is refused (the fit's camera or
# crop information cannot be right): it would be mostly black fill.
MIN_CROP_COVERAGE = 0.5


def check_crop(sample, similarity, path):
    """ValueError naming `path` unless the 512 crop is a plausible cut of the photograph."""
    scale = similarity[0]
    if not (np.isfinite(scale) and 1e-3 < scale < 1e3):
        raise ValueError(f"{path}: the fit puts the person behind or far from the camera "
                         f"(crop scale {scale})")
    inside = warp_image(np.ones(sample["image"].shape[:2], np.uint8), similarity)
    coverage = float(inside.mean())
    if coverage < MIN_CROP_COVERAGE:
        raise ValueError(f"{path}: only {coverage:.0%} of the 512 px crop lies inside the "
                         "photograph; the fit's camera or crop information is wrong")


def warp_image(image, similarity, size=constants.CROP_SIZE):
    """Cuts the size x size crop of `image` under the similarity (bilinear, black fill)."""
    scale, src, dst = similarity
    # Continuous coordinates (centres at +0.5) to OpenCV's integer centres.
    offset = dst - 0.5 - scale * (src - 0.5)
    matrix = np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def read_split_file(release_dir, split):
    """Sample ids of `<split>.txt` (lines like '/NNNNN_image.png')."""
    path = os.path.join(release_dir, f"{split}.txt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: split file does not exist")
    ids = []
    with open(path) as stream:
        for number, line in enumerate(stream, 1):
            name = os.path.basename(line.strip())
            if not name:
                continue
            if not name.endswith("_image.png"):
                raise ValueError(f"{path}:{number}: expected '/NNNNN_image.png', got {line!r}")
            ids.append(name[:-len("_image.png")])
    return ids


def convert_release(release_dir, output_dir, body_model=None, splits=("train", "val", "test"),
                    num_landmarks=14, skip_bad_samples=True):
    """Converts a UP-3D release; returns ({split: samples written}, [(file, reason)] skipped).

    A sample whose files cannot be read or whose fit cannot give a sound crop
    (non-finite values, focal length <= 0, the person behind the camera, a
    crop mostly outside the photograph) is reported by file and reason and
    left out, or with `skip_bad_samples=False` stops the conversion.
    """
    from neural_body_fitting.body import smpl  # TensorFlow only when converting.

    model = resolve_body_model(body_model)
    layer = smpl.SMPL(model, jit_compile=False)
    face_labels = render.face_labels_from_vertex_labels(model.part24 + 1, model.faces)
    counts, skipped = {}, []
    for split in splits:
        ids, written = read_split_file(release_dir, split), []
        for sample_id in ids:
            try:
                sample = read_release_sample(release_dir, sample_id)
                rest_root = (model.J_regressor @ (model.v_template + model.shapedirs[:, :, :10]
                                                  @ sample["betas"]))[0]
                pose, translation, similarity = normalise(sample, rest_root)
                check_crop(sample, similarity, os.path.join(release_dir, f"{sample_id}_body.pkl"))
            except (ValueError, FileNotFoundError) as error:
                if not skip_bad_samples:
                    raise
                logging.warning("Skipping UP-3D sample %s: %s", sample_id, error)
                skipped.append((sample_id, str(error)))
                continue
            written.append(sample_id)
            out = layer(sample["betas"][None], pose[None], translation[None])
            vertices = out["vertices"].numpy()[0].astype(np.float64)
            posed = smpl.run_landmarks(out, num_landmarks).numpy()[0].astype(np.float64)
            labels = render.render_label_map(vertices, model.faces, face_labels,
                                             constants.CROP_SIZE)
            small = cv2.resize(labels, (constants.FIT_SIZE,) * 2,
                               interpolation=cv2.INTER_NEAREST)
            layout.write_sample(
                output_dir, sample_id, image=warp_image(sample["image"], similarity),
                colours=encodings.encode_labels(small, 12), labels=labels,
                smplparams=np.concatenate([sample["betas"], pose, translation]),
                rest_joints=out["rest_joints"].numpy()[0], posed_joints=posed,
                projected_joints=geometry.project_points(posed, constants.FIT_SIZE).numpy())
        layout.write_split_list(output_dir, split, [(i, 1) for i in written])
        counts[split] = len(written)
    layout.write_dataset_info(output_dir, {
        "source": "UP-3D", "complete": True, "skipped": skipped,
        "body_model": model.name, "num_landmarks": num_landmarks,
        "granularities": list(encodings.GRANULARITIES), "counts": counts,
        "camera": {"focal_length_512": constants.FOCAL_LENGTH_512,
                   "fixed_translation": constants.FIXED_TRANSLATION.tolist()}})
    return counts, skipped
