"""Conversion of the public UP-3D release into the original NBF layout.

A UP-3D sample is an image with an SMPL fit made by SMPLify: `pose` (72),
`betas` (10), `trans` (3) and a perspective camera (focal length `f`,
rotation `rt`, translation `t`, principal point `cam_c`, by default the
centre of the fit's frame): a body point X is seen at
f (R_rt X + t)_xy / (R_rt X + t)_z + c in the fit's frame.
`fit_crop_info.txt` holds `height width y0 y1 x0 x1`: the fit's frame
(height x width pixels) is the image region [y0, y1) x [x0, x1) resized, so
a fit pixel p is the image pixel p / k + (x0, y0), with k the mean of
width / (x1 - x0) and height / (y1 - y0) (as UP's own tools do).

Scale normalisation (the paper's "scale ambiguity"): every person is moved
to `constants.FIXED_TRANSLATION` in the original's camera, so its size in
the crop depends on its shape only. The fit's camera rotation is folded into
the global orientation; the scene is turned about the camera centre by the
smallest rotation that puts the body's root on the viewing ray of its fixed
position (which centres the person in the crop), and the body is moved along
that ray to the fixed distance. The image follows with a similarity (scale
and shift) from the original image to the 512 crop, fitted by least squares
to the body's vertices projected by both cameras, so the re-projected body
lands where its pixels are. Part maps are then rendered from the normalised
parameters with the given body model.
"""
import os

import cv2
import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from neural_body_fitting import body_model as body_model_lib
from neural_body_fitting import constants, dataset, encodings, geometry, render, synthesis

SPLITS = ("train", "val", "test")


def _read_crop_info(path):
    """(height, width, y0, y1, x0, x1) ints of a `_fit_crop_info.txt` file."""
    try:
        with open(path) as stream:
            values = [int(float(v)) for v in stream.read().split()]
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: expected 6 integers 'height width y0 y1 x0 x1' ({error})") \
            from error
    if len(values) != 6:
        raise ValueError(f"{path}: expected 6 integers 'height width y0 y1 x0 x1', "
                         f"got {len(values)} values")
    height, width, y0, y1, x0, x1 = values
    if height <= 0 or width <= 0 or y1 <= y0 or x1 <= x0:
        raise ValueError(f"{path}: need positive height and width and y0 < y1, x0 < x1, "
                         f"got {values}")
    return values


def _fit_array(fit, key, size, path):
    if key not in fit or np.size(fit[key]) != size:
        raise ValueError(f"{path}: key '{key}' must hold {size} values")
    values = np.asarray(fit[key], np.float64).reshape(size)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: key '{key}' holds NaN or infinite values")
    return values


def read_release_sample(release_dir, sample_id):
    """One UP-3D sample as a dict.

    Returns: 'image' uint8 [H, W, 3] RGB; 'pose' [72], 'betas' [10], 'trans' [3],
    'rt' [3], 't' [3] (the fit); 'focal' (float) and 'centre' [2] of the fit's
    camera expressed in the image's pixels; 'joints_2d' [14, 2] and 'visible'
    [14] bool from `_joints.npy` (image pixels).
    """
    prefix = os.path.join(release_dir, sample_id)
    body_path = f"{prefix}_body.pkl"
    fit = body_model_lib.safe_load_pickle(body_path)
    if not isinstance(fit, dict):
        raise ValueError(f"{body_path}: expected a dict of arrays, got {type(fit).__name__}")
    params = {key: _fit_array(fit, key, size, body_path) for key, size in (
        ("pose", 72), ("betas", 10), ("trans", 3), ("rt", 3), ("t", 3))}
    if "f" not in fit or np.size(fit["f"]) not in (1, 2):
        raise ValueError(f"{body_path}: key 'f' must hold the focal length (1 or 2 values)")
    focal = float(np.mean(fit["f"]))
    height, width, y0, y1, x0, x1 = _read_crop_info(f"{prefix}_fit_crop_info.txt")
    centre = (np.asarray(fit["cam_c"], np.float64).reshape(2) if "cam_c" in fit
              else np.array([width / 2.0, height / 2.0]))
    # Fit frame -> image: divide by the resize factor, add the crop's corner.
    resize = np.mean([width / (x1 - x0), height / (y1 - y0)])
    joints_path = f"{prefix}_joints.npy"
    try:
        joints = np.load(joints_path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{joints_path}: not a readable .npy file ({error})") from error
    if joints.shape not in ((2, 14), (3, 14)):
        raise ValueError(f"{joints_path}: expected shape (2, 14) or (3, 14), got {joints.shape}")
    return {
        "image": dataset.read_image(f"{prefix}_image.png"), **params,
        "focal": focal / resize, "centre": centre / resize + np.array([x0, y0], np.float64),
        "joints_2d": joints[:2].T.astype(np.float64), "visible": np.all(joints[:2] > 0, axis=0),
        "source": prefix,
    }


def _rotation_between(a, b):
    """The smallest rotation [3, 3] taking direction a [3] to direction b [3]."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    sine = np.linalg.norm(axis)
    if sine < 1e-12:
        return np.eye(3)
    return Rotation.from_rotvec(axis / sine * np.arctan2(sine, a @ b)).as_matrix()


def normalise_parameters(sample, rest_root):
    """The fit moved to the fixed translation: (pose [72], translation [3]).

    Args:
      sample: from `read_release_sample`.
      rest_root: [3] the rest pelvis J(β)[0] of the sample's betas (SMPL's
        global rotation pivots there).
    """
    camera = Rotation.from_rotvec(sample["rt"]).as_matrix()
    root = Rotation.from_rotvec(sample["pose"][:3]).as_matrix()
    # In the fit's camera, X = R_c (R_root (x - J0) + J0 + trans) + t: the root is at
    # R_c (J0 + trans) + t.
    root_position = camera @ (rest_root + sample["trans"]) + sample["t"]
    if root_position[2] <= 0:
        raise ValueError(f"{sample['source']}_body.pkl: the body is behind the camera "
                         f"(root depth {root_position[2]:.3f})")
    turn = _rotation_between(root_position, rest_root + constants.FIXED_TRANSLATION)
    pose = sample["pose"].copy()
    pose[:3] = Rotation.from_matrix(turn @ camera @ root).as_rotvec()
    return pose, constants.FIXED_TRANSLATION.copy()


def fit_camera_points(sample, points):
    """Body points of the fit [N, 3] (translation applied) -> the fit's camera frame."""
    return points @ Rotation.from_rotvec(sample["rt"]).as_matrix().T + sample["t"]


def fit_similarity(source, target):
    """Least-squares scale s and shift o [2] with target ≈ s * source + o ([N, 2] each)."""
    source_mean, target_mean = source.mean(0), target.mean(0)
    centred = source - source_mean
    scale = np.sum(centred * (target - target_mean)) / np.sum(centred ** 2)
    return scale, target_mean - scale * source_mean


def warp_image(image, scale, shift, size=constants.CROP_SIZE):
    """The size x size crop of `image` under x -> scale x + shift (bilinear, black fill).

    Coordinates are continuous (pixel (col, row) covers [col, col + 1) x [row, row + 1)).
    """
    # OpenCV maps pixel indices (centres at integers): fold the half-pixel in.
    offset = np.asarray(shift, np.float64) + 0.5 * (scale - 1.0)
    matrix = np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class Converter:
    """Converts release samples with one body model (its SMPL layer is built once)."""

    def __init__(self, body_model=None, num_landmarks=14, colour_map_size=constants.FIT_SIZE,
                 granularities=(12,)):
        from neural_body_fitting import smpl  # TensorFlow only when converting.

        if num_landmarks not in (14, 24):
            raise ValueError(f"num_landmarks must be 14 or 24, got {num_landmarks}")
        self.model = body_model_lib.resolve_body_model(body_model)
        self.layer = smpl.SMPL(self.model, dtype="float64")
        self.face_labels = synthesis.face_labels24(self.model)
        self.num_landmarks = num_landmarks
        self.colour_map_size = colour_map_size
        self.granularities = tuple(sorted({12, *granularities}))

    def convert(self, sample):
        """A release sample -> a sample dict as `synthesis.write_generated_sample` takes,
        plus 'similarity' (scale, shift [2]): original image pixels -> 512 crop pixels."""
        betas = sample["betas"][None]
        fit = self.layer(betas, sample["pose"][None], sample["trans"][None])
        rest_root = fit["rest_joints"].numpy()[0, 0]
        pose, translation = normalise_parameters(sample, rest_root)
        out = self.layer(betas, pose[None], translation[None])
        vertices = out["vertices"].numpy()[0]
        seen = fit_camera_points(sample, fit["vertices"].numpy()[0])
        source = sample["focal"] * seen[:, :2] / seen[:, 2:] + sample["centre"]
        scale, shift = fit_similarity(source, geometry.project_points(
            vertices, constants.CROP_SIZE).numpy())
        labels = render.render_label_map(vertices, self.model.faces, self.face_labels,
                                         constants.CROP_SIZE)
        posed = (out["landmarks14"] if self.num_landmarks == 14 else out["joints"]).numpy()[0]
        return {
            "image": warp_image(sample["image"], scale, shift), "labels": labels,
            "colour_maps": synthesis.colour_maps(labels, self.granularities,
                                                 self.colour_map_size),
            "smplparams": np.concatenate([sample["betas"], pose, translation]),
            "rest_joints": out["rest_joints"].numpy()[0], "posed_joints": posed,
            "projected_joints": geometry.project_points(posed, constants.FIT_SIZE).numpy(),
            "similarity": (scale, shift),
        }


def read_split_file(release_dir, split):
    """Sample ids of the release's `<split>.txt` (lines like '/NNNNN_image.png')."""
    path = os.path.join(release_dir, f"{split}.txt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: split file does not exist")
    ids = []
    with open(path) as stream:
        for number, line in enumerate(stream, 1):
            fields = line.split()
            if not fields:
                continue
            name = os.path.basename(fields[0])
            if not name.endswith("_image.png") or name == "_image.png":
                raise ValueError(f"{path}:{number}: expected '/NNNNN_image.png', got {line!r}")
            ids.append(name[:-len("_image.png")])
    return ids


def convert_release(release_dir, output_dir, body_model=None, splits=SPLITS, num_landmarks=14,
                    latent_flag=1, colour_map_size=constants.FIT_SIZE, granularities=(12,),
                    progress=True):
    """Converts a UP-3D release into the dataset layout; returns {split: number of samples}.

    Args:
      release_dir: the release folder (samples and split files).
      output_dir: dataset root to write.
      body_model: a BodyModel, a path, or None ($NBF_SMPL_MODEL or the synthetic model).
      splits: split files to convert.
      num_landmarks: 14 (the original's landmarks) or 24 (SMPL joints) in joints.bin.
      latent_flag: the latent flag of every sample (1: its 3D labels may be used).
      colour_map_size, granularities: as in `synthesis.generate_dataset`.
    """
    if latent_flag not in (0, 1):
        raise ValueError(f"latent_flag must be 0 or 1, got {latent_flag}")
    converter = Converter(body_model, num_landmarks, colour_map_size, granularities)
    ids = {split: read_split_file(release_dir, split) for split in splits}
    bar = tqdm(total=sum(len(v) for v in ids.values()), desc="UP-3D", disable=not progress)
    for split in splits:
        for sample_id in ids[split]:
            sample = converter.convert(read_release_sample(release_dir, sample_id))
            synthesis.write_generated_sample(output_dir, sample_id, sample)
            bar.update(1)
        dataset.write_split_list(output_dir, split, [(i, latent_flag) for i in ids[split]])
    bar.close()
    counts = {split: len(ids[split]) for split in splits}
    dataset.write_dataset_info(output_dir, {
        "source": "UP-3D", "body_model": converter.model.name, "num_landmarks": num_landmarks,
        "granularities": list(encodings.GRANULARITIES),
        "colour_maps_written": list(converter.granularities),
        "colour_map_size": colour_map_size, "counts": counts,
        "camera": {"focal_length_512": constants.FOCAL_LENGTH_512,
                   "fixed_translation": constants.FIXED_TRANSLATION.tolist(),
                   "convention": "opencv: x right, y down, looking along +z"}})
    return counts
