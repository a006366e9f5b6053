"""Synthetic NBF datasets rendered from any SMPL-format body model.

Per sample: a pose from `pose_prior`, betas ~ N(0, 1) clipped to ±3, the
paper's scale normalisation (camera at the origin, the person at
`constants.FIXED_TRANSLATION`, so its size comes only from the betas), then
a small jitter of the person in the crop (shift and scale) baked into the
stored translation: the paper found this augmentation critical, and since it
changes the SMPL parameters it has to happen here rather than online. A
fraction of the samples is mirrored: the rendering is flipped horizontally
with left/right labels swapped, and the stored parameters are the mirrored
ones (`geometry.mirror_axis_angle`); for a left/right symmetric body model
(the synthetic one is) this equals rendering the mirrored parameters.

Written in the original layout (`dataset`): a 512 px RGB image (the shaded
body over a procedural background), the 12-part colour map (at
`SampleOptions.colour_map_size`, 224 by default: the only size stage 2
reads), our 24-part label map (512 px; every coarser encoding is a grouping
of it), optional colour maps of other granularities, the SMPL parameters and
the joints (rest, posed and projected at 224) computed with the SMPL layer
from the stored parameters.

Every sample's randomness derives from (seed, split, index), so a dataset is
the same whatever the number of worker processes. SMPL runs batched in the
parent process, one chunk of samples at a time; spawned worker processes
only render and write (they never build an SMPL layer).
"""
import dataclasses
import multiprocessing
import os

import cv2
import numpy as np
from tqdm import tqdm

from neural_body_fitting import body_model as body_model_lib
from neural_body_fitting import constants, dataset, encodings, geometry, pose_prior, render

_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
# Independent random streams of one sample: its parameters (drawn in the
# parent) and its appearance (drawn where it is rendered).
_PARAMETER_STREAM, _APPEARANCE_STREAM = 0, 1
_LATENT_FLAG_STREAM = 99


@dataclasses.dataclass(frozen=True)
class SampleOptions:
    """What a synthetic sample holds.

    num_landmarks: 14 (the original's landmarks) or 24 (SMPL joints) in joints.bin.
    mirror_fraction: probability that a sample is mirrored.
    shift_fraction: the person's shift in the crop, uniform up to this fraction
      of the crop size in x and y.
    scale_range: the person's scale in the crop, uniform in this range (a
      change of depth).
    colour_map_size: side of the stored 12-part colour map (and the others).
    granularities: colour maps to write (12 always goes to colours/, others
      to colours_parts<k>/); the 24-part label map is always written.
    """
    num_landmarks: int = 14
    mirror_fraction: float = 0.0
    shift_fraction: float = 0.04
    scale_range: tuple = (0.9, 1.1)
    colour_map_size: int = constants.FIT_SIZE
    granularities: tuple = (12,)

    def __post_init__(self):
        if self.num_landmarks not in (14, 24):
            raise ValueError(f"num_landmarks must be 14 or 24, got {self.num_landmarks}")
        if not 0.0 <= self.mirror_fraction <= 1.0:
            raise ValueError(f"mirror_fraction must be in [0, 1], got {self.mirror_fraction}")
        if not 0.0 <= self.shift_fraction < 0.5:
            raise ValueError(f"shift_fraction must be in [0, 0.5), got {self.shift_fraction}")
        low, high = self.scale_range
        if not 0.0 < low <= high:
            raise ValueError(f"scale_range must be (low, high) with 0 < low <= high, "
                             f"got {self.scale_range}")
        if self.colour_map_size <= 0:
            raise ValueError(f"colour_map_size must be positive, got {self.colour_map_size}")
        for granularity in self.granularities:
            encodings.colour_table(granularity)  # ValueError naming the valid ones.


def sample_rng(seed, split, index, stream=_PARAMETER_STREAM):
    """The numpy Generator of one random stream of sample `index` of `split`."""
    if split not in _SPLIT_CODES:
        raise ValueError(f"split must be one of {tuple(_SPLIT_CODES)}, got '{split}'")
    return np.random.default_rng([seed, _SPLIT_CODES[split], index, stream])


def sample_id(split, index):
    return f"{split}_{index:06d}"


# --- Parameters ------------------------------------------------------------------------------


def jitter_translation(rng, options):
    """[3] translation: the fixed one, shifted in the image and moved in depth.

    A shift of s pixels (at 512) at depth Z is a lateral move of s Z / f; a
    scale change k of the person in the crop is the depth Z_fixed / k.
    """
    scale = rng.uniform(*options.scale_range)
    depth = constants.FIXED_TRANSLATION[2] / scale
    shift = rng.uniform(-options.shift_fraction, options.shift_fraction, 2) * constants.CROP_SIZE
    lateral = constants.FIXED_TRANSLATION[:2] + shift * depth / constants.FOCAL_LENGTH_512
    return np.array([*lateral, depth])


def mirror_parameters(pose, translation):
    """Left/right mirror of poses [..., 72] and translations [..., 3] (camera on x = 0)."""
    return (geometry.mirror_axis_angle(np.asarray(pose, np.float64)).numpy(),
            np.asarray(translation, np.float64) * (-1.0, 1.0, 1.0))


def sample_parameters(rng, options):
    """One sample's parameters from its parameter stream.

    Returns a dict: 'betas' [10], 'pose' [72] and 'translation' [3] of the
    body as rendered, and 'mirrored' (bool): whether the stored sample is the
    mirror image of that rendering.
    """
    betas = np.clip(rng.normal(size=constants.NUM_BETAS), -3.0, 3.0)
    pose = pose_prior.sample_poses(rng, 1)[0]
    translation = jitter_translation(rng, options)
    mirrored = bool(rng.random() < options.mirror_fraction)
    return {"betas": betas, "pose": pose, "translation": translation, "mirrored": mirrored}


def stored_parameters(params):
    """(pose [72], translation [3]) as stored: mirrored for mirrored samples."""
    if params["mirrored"]:
        return mirror_parameters(params["pose"], params["translation"])
    return params["pose"], params["translation"]


def pose_bodies(layer, params, num_landmarks):
    """Batched SMPL for a list of `sample_parameters` dicts.

    Returns a dict of float64 arrays: 'vertices' [N, V, 3] of the bodies as
    rendered; 'rest_joints' [N, 24, 3], 'posed_joints' [N, L, 3] (camera
    coordinates), 'projected_joints' [N, L, 2] (at 224) and 'smplparams'
    [N, 85] of the bodies as stored.
    """
    betas = np.stack([p["betas"] for p in params])
    rendered = layer(betas, np.stack([p["pose"] for p in params]),
                     np.stack([p["translation"] for p in params]))
    stored = [stored_parameters(p) for p in params]
    poses, translations = np.stack([s[0] for s in stored]), np.stack([s[1] for s in stored])
    # Joints come from the stored parameters themselves, so they agree for
    # any body model, symmetric or not.
    joints = layer(betas, poses, translations, return_vertices=False)
    posed = joints["landmarks14"] if num_landmarks == 14 else joints["joints"]
    return {
        "projected_joints": geometry.project_points(posed, constants.FIT_SIZE).numpy(),
        "vertices": rendered["vertices"].numpy().astype(np.float64),
        "rest_joints": joints["rest_joints"].numpy().astype(np.float64),
        "posed_joints": posed.numpy().astype(np.float64),
        "smplparams": np.concatenate([betas, poses, translations], axis=1),
    }


# --- Appearance ------------------------------------------------------------------------------


def random_background(rng, size=constants.CROP_SIZE):
    """uint8 [size, size, 3]: a colour gradient with blobs, stripes or checks, and noise."""
    corners = rng.integers(0, 256, size=(2, 2, 3)).astype(np.float32)
    background = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(rng.integers(3, 9)):
        centre = tuple(int(c) for c in rng.integers(0, size, 2))
        axes = tuple(int(a) for a in rng.integers(10, size // 3, 2))
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        cv2.ellipse(background, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    texture = rng.integers(3)
    period = int(rng.integers(8, 40))
    cells = (np.arange(size) // period) % 2
    if texture == 1:  # Stripes.
        background *= (0.85 + 0.15 * cells.astype(np.float32))[None, :, None]
    elif texture == 2:  # Checks.
        background *= (0.85 + 0.15 * (cells[:, None] ^ cells[None, :]).astype(np.float32))[..., None]
    background += rng.normal(0, rng.uniform(2, 12), background.shape).astype(np.float32)
    return np.clip(cv2.GaussianBlur(background, (5, 5), 0), 0, 255).astype(np.uint8)


def render_body(vertices, faces, face_labels24, rng):
    """(RGB image uint8 [512, 512, 3], 24-part labels uint8 [512, 512]) of a posed mesh.

    The body is Lambertian with a random albedo and light, over a random background.
    """
    labels = render.render_label_map(vertices, faces, face_labels24, constants.CROP_SIZE)
    albedo = rng.uniform(0.35, 0.95, 3)
    light = (rng.uniform(-1, 1), rng.uniform(-1, 0.2), -1.0)
    shaded, mask = render.render_shaded(vertices, faces, constants.CROP_SIZE, colour=albedo,
                                        light_direction=light)
    image = np.where(mask[..., None], shaded, random_background(rng))
    return image, labels


def mirror_rendering(image, labels24):
    """Flips an image [H, W, 3] and a 24-part label map [H, W] left/right, swapping labels."""
    flipped = encodings.mirror_labels(24)[labels24[:, ::-1]].astype(np.uint8)
    return image[:, ::-1].copy(), flipped


def resize_labels(labels, size):
    """Nearest-neighbour resize of a label map [H, W] to [size, size]."""
    return cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)


def colour_maps(labels24, granularities, size):
    """{granularity: colour map uint8 [size, size, 3]} of a 24-part label map."""
    small = resize_labels(labels24, size)
    return {granularity: encodings.encode_labels(small, granularity)
            for granularity in granularities}


def face_labels24(model):
    """[F] 24-part label (SMPL part + 1) of every face of a body model."""
    return render.face_labels_from_vertex_labels(model.part24 + 1, model.faces)


# --- Samples ---------------------------------------------------------------------------------


def finish_sample(posed, faces, face_labels, mirrored, rng, options):
    """Renders one posed sample and assembles its dict.

    Args:
      posed: one sample's entries of `pose_bodies` (vertices [V, 3], joints, smplparams).
      faces, face_labels: the body model's faces [F, 3] and `face_labels24`.
      mirrored: whether the stored sample is the mirror of the rendering.
      rng: the sample's appearance stream.
    Returns the sample dict (see `generate_samples`).
    """
    image, labels = render_body(posed["vertices"], faces, face_labels, rng)
    if mirrored:
        image, labels = mirror_rendering(image, labels)
    return {
        "image": image, "labels": labels,
        "colour_maps": colour_maps(labels, sorted({12, *options.granularities}),
                                   options.colour_map_size),
        "smplparams": posed["smplparams"], "rest_joints": posed["rest_joints"],
        "posed_joints": posed["posed_joints"], "projected_joints": posed["projected_joints"],
        "mirrored": mirrored,
    }


class SampleGenerator:
    """Generates samples of one body model (its SMPL layer is built once)."""

    def __init__(self, body_model=None, options=SampleOptions()):
        from neural_body_fitting import smpl  # TensorFlow only where bodies are posed.

        self.model = body_model_lib.resolve_body_model(body_model)
        self.options = options
        self.layer = smpl.SMPL(self.model, dtype="float64")
        self.face_labels = face_labels24(self.model)

    def pose(self, parameter_rngs):
        """(list of parameter dicts, `pose_bodies` output) for the given parameter streams."""
        params = [sample_parameters(rng, self.options) for rng in parameter_rngs]
        return params, pose_bodies(self.layer, params, self.options.num_landmarks)

    def generate(self, parameter_rngs, appearance_rngs):
        """Sample dicts (see `generate_samples`) for pairs of random streams."""
        params, posed = self.pose(parameter_rngs)
        return [finish_sample({key: value[k] for key, value in posed.items()}, self.model.faces,
                              self.face_labels, params[k]["mirrored"], appearance_rngs[k],
                              self.options)
                for k in range(len(params))]


def generate_sample(body_model, rng, options=SampleOptions()):
    """One synthetic sample.

    Args:
      body_model: a BodyModel, a path, None (`$NBF_SMPL_MODEL` or the synthetic
        model), or a `SampleGenerator` (reuses its SMPL layer; its options win).
      rng: numpy Generator; the sample is a deterministic function of its state.
      options: `SampleOptions`.
    Returns a dict: 'image' uint8 [512, 512, 3] RGB, 'labels' uint8 [512, 512]
    (0 background, SMPL part + 1), 'colour_maps' {granularity: uint8
    [s, s, 3]}, 'smplparams' [85] (betas, pose, translation as stored),
    'rest_joints' [24, 3], 'posed_joints' [L, 3], 'projected_joints' [L, 2]
    (at 224), 'mirrored' bool.
    """
    generator = body_model if isinstance(body_model, SampleGenerator) else SampleGenerator(
        body_model, options)
    parameter_rng, appearance_rng = rng.spawn(2)
    return generator.generate([parameter_rng], [appearance_rng])[0]


def write_generated_sample(root, identifier, sample):
    """Writes a sample dict in the dataset layout."""
    maps = sample["colour_maps"]
    dataset.write_sample(
        root, identifier, image=sample["image"], labels=sample["labels"], colours=maps[12],
        smplparams=sample["smplparams"], rest_joints=sample["rest_joints"],
        posed_joints=sample["posed_joints"], projected_joints=sample["projected_joints"])
    for granularity, colour_map in maps.items():
        if granularity != 12:
            dataset.write_png(dataset.colour_map_path(root, identifier, granularity), colour_map)


# --- Datasets --------------------------------------------------------------------------------


class _Renderer:
    """The rendering half of generation (no TensorFlow): renders and writes posed chunks."""

    def __init__(self, faces, face_labels, options):
        self.faces, self.face_labels, self.options = faces, face_labels, options

    def __call__(self, job):
        root, split, indices, seed, posed, mirrored = job
        for k, index in enumerate(indices):
            sample = finish_sample({key: value[k] for key, value in posed.items()}, self.faces,
                                   self.face_labels, mirrored[k],
                                   sample_rng(seed, split, index, _APPEARANCE_STREAM),
                                   self.options)
            write_generated_sample(root, sample_id(split, index), sample)
        return len(indices)


_WORKER = {}


def _worker_init(faces, face_labels, options):
    _WORKER["renderer"] = _Renderer(faces, face_labels, options)


def _worker_run(job):
    return _WORKER["renderer"](job)


def _posed_jobs(generator, root, counts, seed, chunk_size):
    """Yields render jobs: SMPL runs here, batched over a chunk of samples."""
    for split, count in counts.items():
        for start in range(0, count, chunk_size):
            indices = list(range(start, min(count, start + chunk_size)))
            params, posed = generator.pose([sample_rng(seed, split, i) for i in indices])
            yield root, split, indices, seed, posed, [p["mirrored"] for p in params]


def latent_flags(count, latent_fraction, seed):
    """[count] int: exactly round(latent_fraction * count) ones, at random places."""
    if not 0.0 <= latent_fraction <= 1.0:
        raise ValueError(f"latent_fraction must be in [0, 1], got {latent_fraction}")
    order = np.random.default_rng([seed, _LATENT_FLAG_STREAM]).permutation(count)
    return (order < round(latent_fraction * count)).astype(int)


def generate_dataset(output_dir, counts, seed=0, body_model=None, latent_fraction=1.0,
                     mirror_fraction=0.0, num_landmarks=14, workers=1, chunk_size=16,
                     granularities=(12,), colour_map_size=constants.FIT_SIZE, progress=True):
    """Writes a synthetic dataset; returns the dataset.json dict.

    Args:
      output_dir: dataset root.
      counts: {'train': n, 'val': n, 'test': n} (any subset of the splits).
      seed: everything derives from it (the files do not depend on `workers`).
      body_model: a BodyModel, a path, or None for $NBF_SMPL_MODEL or the synthetic model.
      latent_fraction: fraction of training samples whose latent flag is 1 (3D
        labels usable), the rest 0; validation and test samples always have 1.
      mirror_fraction: fraction of mirrored samples.
      num_landmarks: 14 (the original's landmarks) or 24 (SMPL joints).
      workers: rendering processes (spawned); 1 renders in this process.
      chunk_size: samples posed by one batched SMPL call and rendered by one job.
      granularities: colour maps to write (12 always; others to colours_parts<k>/).
      colour_map_size: side of the stored colour maps.
      progress: show a tqdm progress bar.
    """
    options = SampleOptions(num_landmarks=num_landmarks, mirror_fraction=mirror_fraction,
                            colour_map_size=colour_map_size,
                            granularities=tuple(sorted({12, *granularities})))
    for split in counts:
        sample_rng(seed, split, 0)  # ValueError on an unknown split before any work.
    flags = {split: latent_flags(count, latent_fraction, seed) if split == "train"
             else np.ones(count, int) for split, count in counts.items()}
    generator = SampleGenerator(body_model, options)
    jobs = _posed_jobs(generator, output_dir, counts, seed, chunk_size)
    renderer_args = (generator.model.faces, generator.face_labels, options)
    bar = tqdm(total=sum(counts.values()), desc="samples", disable=not progress)
    if workers > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(workers, _worker_init, renderer_args) as pool:
            for done in pool.imap(_worker_run, jobs):
                bar.update(done)
    else:
        renderer = _Renderer(*renderer_args)
        for job in jobs:
            bar.update(renderer(job))
    bar.close()
    for split, count in counts.items():
        dataset.write_split_list(output_dir, split, [(sample_id(split, i), flags[split][i])
                                                     for i in range(count)])
    info = {
        "body_model": generator.model.name, "granularities": list(encodings.GRANULARITIES),
        "colour_maps_written": list(options.granularities),
        "colour_map_size": colour_map_size,
        "num_landmarks": num_landmarks, "counts": dict(counts), "seed": seed,
        "latent_fraction": latent_fraction, "mirror_fraction": mirror_fraction,
        "camera": {"focal_length_512": constants.FOCAL_LENGTH_512,
                   "fixed_translation": constants.FIXED_TRANSLATION.tolist(),
                   "convention": "opencv: x right, y down, looking along +z"},
    }
    dataset.write_dataset_info(output_dir, info)
    return info


def is_empty_dir(path):
    """True if `path` does not exist or is an empty directory."""
    return not os.path.exists(path) or (os.path.isdir(path) and not os.listdir(path))
