"""The tf.data input pipeline for the fitting network, and latent statistics.

`load_split` reads a split's list and all its small `.bin` files into memory
and checks the input PNG each sample needs (format, bit depth, channels, size;
for maps also their content), so a bad sample is reported by name before
training starts, or skipped and counted with `skip_bad_samples=True`.
`make_dataset` then streams the model inputs, decoding PNGs in parallel:

  'parts12'              the 12-part colour map as stored (`colours/`)
  'parts1|3|6|24'        the 24-part label map (`labels/`) regrouped and coloured;
                         without it, 1/3/6 parts are regrouped from the colour map
  'joints14|24'          discs of radius 3 px at the stored 2D landmarks (14: the
                         original's; 24: SMPL's joints, from a dataset written
                         with 24 landmarks); with `FittingInputs.corruption`
                         at detector-like corrupted landmarks (`data.keypoint_noise`)
  'rgb'                  the 512 crop resized bilinearly

All inputs are 224 x 224 x 3 in [-1, 1] (`encodings.scale_input`); maps are
resized with nearest neighbour. Each element is a dict: 'id', 'path',
'input', 'latent' (the latent record of `body.parameter_records` minus the
statistics' mean), 'latent_flag', 'betas', 'pose', 'rotations' [24, 3, 3]
(relative or absolute), 'translation', 'rest_joints' [24, 3], 'landmarks'
[L, 3] and 'landmarks_2d' [L, 2] (the landmark set the run compares: the
original's 14 landmarks, or SMPL's 24 joints).
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from neural_body_fitting import constants, geometry
from neural_body_fitting.body import parameter_records
from neural_body_fitting.data import encodings, keypoint_noise, layout, tf_data
from neural_body_fitting.utils import images


@dataclasses.dataclass
class Split:
    """A split held in memory (N samples, L landmarks)."""

    root: str
    ids: list            # [N] sample ids
    latent_flags: np.ndarray  # [N]
    params: np.ndarray   # [N, 85] betas, axis-angle pose, translation
    rest_joints: np.ndarray  # [N, 24, 3]
    landmarks: np.ndarray     # [N, L, 3] posed, camera coordinates
    landmarks_2d: np.ndarray  # [N, L, 2] projected into the 224 crop
    skipped: list        # [(id, reason)] samples left out

    @property
    def num_landmarks(self):
        return self.landmarks.shape[1]


def _input_file_kind(input_type, has_labels):
    """The `layout.sample_paths` key of the file an input type reads, or None."""
    kind, count = encodings.parse_input_type(input_type)
    if kind == "rgb":
        return "image"
    if kind == "joints":
        return None
    if count == 12 or (count in (1, 3, 6) and not has_labels):
        return "colours"
    return "labels"


# What each input PNG must be: 8-bit, this colour type, this side (None: any square).
_PNG_FORMATS = {
    "image": ("RGB", constants.CROP_SIZE),
    "colours": ("RGB", None),
    "labels": ("greyscale", constants.CROP_SIZE),  # Rendered at the image's size.
}


def check_input_png(path, file_kind):
    """Checks an input PNG ('image', 'colours' or 'labels'); ValueError naming it.

    Every file gets the header check (format, bit depth, colour type, size)
    and the completeness test (closing IEND chunk). The maps are small and
    decoding them is cheap, so their content is checked too: colour maps may
    hold only the 12-part table's colours (others would silently read as
    background), label maps only 0..24 (others fail deep in tf.gather). The
    512 px images are not decoded: that would cost ~10x the maps, and
    truncation, the usual damage, is already caught by the IEND test.
    """
    header = images.read_png_header(path)
    colour_type, side = _PNG_FORMATS[file_kind]
    problems = []
    if header.bit_depth != 8:
        problems.append(f"{header.bit_depth}-bit PNG, expected 8-bit")
    if header.colour_type != colour_type:
        problems.append(f"{header.colour_type} PNG, expected {colour_type}")
    size = f"{header.width}x{header.height} PNG"
    if side is None and header.width != header.height:
        problems.append(f"{size}, expected a square map")
    elif side is not None and (header.width, header.height) != (side, side):
        problems.append(f"{size}, expected {side}x{side}")
    if problems:
        raise ValueError(f"{path}: {'; '.join(problems)}")
    if file_kind == "colours":
        _check_colours(path, images.read_image(path))
    elif file_kind == "labels":
        _check_labels(path, images.read_label_map(path))


def _check_colours(path, colour_map):
    foreign = ~np.isin(encodings.colour_codes(colour_map),
                       encodings.colour_codes(constants.PART_COLOURS))
    if foreign.any():
        row, col = np.unravel_index(np.argmax(foreign), foreign.shape)
        raise ValueError(f"{path}: colour {tuple(int(c) for c in colour_map[row, col])} at "
                         f"pixel (row {row}, col {col}) is not in the 12-part colour table")


def _check_labels(path, labels):
    invalid = labels > constants.NUM_JOINTS
    if invalid.any():
        row, col = np.unravel_index(np.argmax(invalid), invalid.shape)
        raise ValueError(f"{path}: label {labels[row, col]} at pixel (row {row}, col {col}) "
                         f"is not in 0..{constants.NUM_JOINTS}")


def read_checked_samples(root, split, read_sample, skip_bad_samples=False):
    """Reads every sample of a split's list with `read_sample(sample_id)`.

    `read_sample` raises ValueError/FileNotFoundError naming the bad file; the
    first one stops the reading, unless `skip_bad_samples`, which leaves the
    sample out and logs it. A split without a usable sample is refused.
    Returns ([(sample id, latent flag, what read_sample returned)], [(id, reason)] skipped).
    """
    layout.check_complete(root)
    entries = layout.read_split_list(root, split)
    kept, skipped = [], []
    for sample_id, flag in entries:
        try:
            kept.append((sample_id, flag, read_sample(sample_id)))
        except (ValueError, FileNotFoundError) as error:
            if not skip_bad_samples:
                raise
            logging.warning("Skipping sample %s: %s", sample_id, error)
            skipped.append((sample_id, str(error)))
    if skipped:
        logging.warning("%s/%s: skipped %d of %d samples", root, split, len(skipped),
                        len(entries))
    if not kept:
        raise ValueError(f"{layout.list_path(root, split)}: no usable samples")
    return kept, skipped


def load_split(root, split, input_type="parts12", skip_bad_samples=False, num_landmarks=None):
    """Reads and checks a split: list, `.bin` files, input PNGs (`check_input_png`).

    Raises ValueError/FileNotFoundError naming the file of the first bad sample,
    unless `skip_bad_samples`, which leaves bad samples out, logs them and
    records them in `Split.skipped`.
    """
    has_labels = os.path.isdir(os.path.join(root, "labels"))
    file_kind = _input_file_kind(input_type, has_labels)
    expected = [num_landmarks]  # The first good sample's count when not given.

    def read_sample(sample_id):
        paths = layout.sample_paths(root, sample_id)
        values = layout.read_smplparams(paths["smplparams"])
        rest, posed, projected = layout.read_joints(paths["joints"])
        if expected[0] is not None and posed.shape[0] != expected[0]:
            raise ValueError(f"{paths['joints']}: {posed.shape[0]} landmarks, "
                             f"expected {expected[0]}")
        if file_kind is not None:
            if not os.path.isfile(paths[file_kind]):
                raise FileNotFoundError(
                    f"{paths[file_kind]}: file does not exist (list "
                    f"{layout.list_path(root, split)} names '{sample_id}')")
            check_input_png(paths[file_kind], file_kind)
        expected[0] = posed.shape[0]
        return values, rest, posed, projected

    kept, skipped = read_checked_samples(root, split, read_sample, skip_bad_samples)
    ids, flags, samples = zip(*kept)
    params, rest, posed, projected = (np.stack(column) for column in zip(*samples))
    return Split(root, list(ids), np.array(flags, np.float32), params, rest, posed, projected,
                 skipped)


def rotation_matrices(pose, rotation_mode):
    """Axis-angle poses [N, 72] -> rotation matrices [N, 24, 3, 3] (relative or absolute)."""
    relative = geometry.axis_angle_to_matrix(np.reshape(pose, (-1, 24, 3)))
    if rotation_mode == "relative":
        return relative.numpy()
    if rotation_mode == "absolute":
        return geometry.relative_to_absolute(relative).numpy()
    raise ValueError(f"rotation_mode must be 'relative' or 'absolute', got '{rotation_mode}'")


def latent_statistics(split, rotation_mode):
    """Mean and std [229] of a split's statistics records (`body.parameter_records`)."""
    values = _statistics_records(split, rotation_mode)
    return values.mean(0), values.std(0)


def _statistics_records(split, rotation_mode):
    """[N, 229] float64 records of a split's parameters."""
    rotations = rotation_matrices(split.params[:, parameter_records.POSE], rotation_mode)
    return parameter_records.statistics_record(split.params[:, parameter_records.BETAS], rotations,
                                     split.params[:, parameter_records.TRANSLATION])


def decode_png(path, channels):
    """tf.io.decode_png of a file, failing with the file's name if it is no PNG or cut short.

    `load_split` checked the file, but it may have changed since, and
    decode_png's own error ("Invalid PNG data, size N") does not name it. The
    assertion tests only the first 8 and last 12 bytes, so streaming keeps its
    speed.
    """
    raw = tf.io.read_file(path)
    is_png = tf.strings.substr(raw, 0, len(images.PNG_SIGNATURE)) == images.PNG_SIGNATURE
    end = len(images.PNG_END)
    tail = tf.strings.substr(raw, tf.maximum(tf.strings.length(raw) - end, 0), end)
    reason = tf.where(is_png, ": truncated PNG (no IEND chunk)", ": not a PNG")
    check = tf.debugging.Assert(is_png & (tail == images.PNG_END), [tf.strings.join(
        [path, reason, ", changed since load_split checked it"])])
    with tf.control_dependencies([check]):
        return tf.io.decode_png(raw, channels=channels)


def _input_builder(input_type, has_labels):
    """A function (path, landmarks_2d) -> uint8 [224, 224, 3] model input before scaling."""
    kind, count = encodings.parse_input_type(input_type)
    size = [constants.FIT_SIZE, constants.FIT_SIZE]

    def nearest(image):
        return tf.image.resize(image, size, method="nearest")

    if kind == "rgb":
        return lambda path, _: tf.cast(tf.image.resize(
            decode_png(path, 3), size), tf.uint8)
    if kind == "joints":
        return lambda _, landmarks_2d: encodings.draw_joint_map_tf(landmarks_2d)
    if count == 12:
        return lambda path, _: nearest(decode_png(path, 3))
    if has_labels:
        return lambda path, _: encodings.encode_labels_tf(nearest(decode_png(path, 1))[..., 0],
                                                          count)
    # Data prepared by the original code: regroup the 12-part colour map.
    from_12 = tf.constant(encodings.part_lookup(count)[_first_24_label_of_each_12()], tf.int32)
    return lambda path, _: encodings.colourise_tf(tf.gather(from_12, encodings.decolourise_tf(
        nearest(decode_png(path, 3)))), encodings.colour_table(count))


def _first_24_label_of_each_12():
    """[13] a 24-part label (0..24) belonging to each 12-part label (0..12)."""
    part12 = encodings.part_lookup(12)
    return np.array([int(np.flatnonzero(part12 == k)[0]) for k in range(13)])


@dataclasses.dataclass(frozen=True)
class FittingInputs:
    """What the fitting network's batches hold, from an experiment config (`from_config`)."""

    input_type: str = "parts12"  # `encodings.INPUT_TYPES`.
    input_size: int = constants.FIT_SIZE  # Other than 224: the 224 px input resized.
    rotation_mode: str = "absolute"  # Of the target rotations (`parameter_records.rotation_mode`).
    # The latent target's layout ('betas,pose' or 'betas,pose,trans'; `body.parameter_records`).
    latent_components: str = "betas,pose"
    # [229] statistics mean (rotations in `rotation_mode`) whose latent part is
    # subtracted from the latent target, or None.
    latent_mean: np.ndarray = None
    cache: bool = False  # Keep decoded inputs in memory after the first pass.
    # Detector-like corruption of the landmarks a joint map draws
    # (`data.keypoint_noise`); None or an inactive one: the exact landmarks.
    corruption: keypoint_noise.KeypointCorruption = None

    @classmethod
    def from_config(cls, config, latent_mean=None, corrupt=False):
        """The inputs of `config`; `corrupt`: with its keypoint corruption (training)."""
        fitting = config.model.fitting
        return cls(input_type=config.data.input_type, input_size=int(config.data.input_size),
                   rotation_mode=parameter_records.rotation_mode(fitting.use_absrot),
                   latent_components=fitting.latent_components, latent_mean=latent_mean,
                   cache=bool(config.runtime.cache_inputs),
                   corruption=(keypoint_noise.KeypointCorruption.from_config(config)
                               if corrupt else None))


def make_dataset(split_data, inputs=FittingInputs(), batch_size=5, shuffle=True,
                 seed=constants.SEED, repeat=True, drop_remainder=True, input_context=None,
                 skip_batches=0):
    """The fitting network's input pipeline (see the module docstring).

    Args:
      split_data: a `Split` from `load_split`.
      inputs: `FittingInputs`: input type and size, the latent target, caching,
        keypoint corruption.
      input_context: a tf.distribute.InputContext; shards the samples.
      skip_batches: batches to skip at the start (to resume a run where it
        stopped); the records are skipped before decoding, so this is cheap.
    Returns:
      tf.data.Dataset of dicts.
    """
    input_type, input_size = inputs.input_type, inputs.input_size
    root, rotation_mode = split_data.root, inputs.rotation_mode
    latent_mean, latent_components = inputs.latent_mean, inputs.latent_components
    records = _statistics_records(split_data, rotation_mode)
    latent = records[:, :parameter_records.latent_size(latent_components)]
    if latent_mean is not None:
        latent = latent - parameter_records.latent_from_statistics(latent_mean,
                                                                   latent_components)
    params = split_data.params.astype(np.float32)
    has_labels = os.path.isdir(os.path.join(root, "labels"))
    file_kind = _input_file_kind(input_type, has_labels)
    paths = [layout.sample_paths(root, i)[file_kind] if file_kind else "" for i in split_data.ids]
    tensors = {
        "id": np.array(split_data.ids), "path": np.array(paths),
        "latent": latent.astype(np.float32), "latent_flag": split_data.latent_flags,
        "betas": params[:, parameter_records.BETAS], "pose": params[:, parameter_records.POSE],
        "rotations": records[:, parameter_records.ROTATIONS].reshape(-1, constants.NUM_JOINTS, 3, 3)
        .astype(np.float32),
        "translation": params[:, parameter_records.TRANSLATION],
        "rest_joints": split_data.rest_joints.astype(np.float32),
        "landmarks": split_data.landmarks.astype(np.float32),
        "landmarks_2d": split_data.landmarks_2d.astype(np.float32),
    }
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    build_input = _input_builder(input_type, has_labels)
    corruption = inputs.corruption if inputs.corruption and inputs.corruption.active else None
    if corruption is not None and encodings.parse_input_type(input_type)[0] != "joints":
        raise ValueError(f"keypoint corruption applies to joint maps; input type "
                         f"'{input_type}' draws none")

    method = "bilinear" if input_type == "rgb" else "nearest"

    def add_input(element, position=None):
        landmarks_2d = element["landmarks_2d"]  # Stays the loss's target, uncorrupted.
        if position is not None:
            landmarks_2d = keypoint_noise.corrupt_landmarks(
                tf.stack([tf.constant(seed, tf.int64), position]), landmarks_2d, corruption)
        image = build_input(element["path"], landmarks_2d)
        if input_size != constants.FIT_SIZE:
            image = tf.cast(tf.image.resize(image, [input_size, input_size], method=method),
                            tf.uint8)
        return {**element, "input": image}

    def shuffled(ds):
        return ds.shuffle(len(split_data.ids), seed=seed, reshuffle_each_iteration=True)

    decode = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    skipped = skip_batches * batch_size
    if corruption is not None:
        # Drawn anew at every pass, each sample's corruption seeded by its
        # position in the stream (so a resumed run continues it); nothing to cache.
        ds = shuffled(ds) if shuffle else ds
        ds = (ds.repeat() if repeat else ds).enumerate().skip(skipped)
        ds = ds.map(lambda position, element: add_input(element, position), **decode)
    elif inputs.cache:  # Decode once, keep the 224 px inputs in memory, shuffle them.
        ds = ds.map(add_input, **decode).cache()
        ds = shuffled(ds) if shuffle else ds
        ds = (ds.repeat() if repeat else ds).skip(skipped)
    else:  # Shuffle the small per-sample records, then decode.
        ds = shuffled(ds) if shuffle else ds
        ds = (ds.repeat() if repeat else ds).skip(skipped)
        ds = ds.map(add_input, **decode)
    ds = ds.map(lambda e: {**e, "input": encodings.scale_input_tf(e["input"])},
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    return tf_data.without_autotune(ds)
