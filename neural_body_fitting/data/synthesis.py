"""Synthetic NBF datasets rendered from any SMPL-format body model.

Per sample: a pose from a `pose_prior.PosePrior` (by default the
motion-capture pose bank mixed with the Euler-limit prior), betas ~ N(0, 1) clipped to ±3, the
paper's scale normalisation (camera at the origin, the person at the fixed
translation, so size comes only from the betas), then a jitter of the person
in the crop baked into the stored translation (the paper found this
augmentation critical: it changes the SMPL parameters, so it has to happen
here), and optionally a left/right mirror (image flipped, labels remapped,
parameters mirrored). Written in the original layout (`dataset`): a 512 px
RGB image (the shaded body over a procedural background), the 12-part colour
map (at 224 px, the size stage 2 reads), our 24-part label map (512 px), the
SMPL parameters and the joints.

Every sample's randomness derives from (seed, split, index), so a dataset is
the same whatever the number of worker processes, and an interrupted
generation can be resumed: dataset.json says "complete": false from the
start, each finished sample is recorded (`layout.record_finished`), and a
rerun with the same settings makes only the missing samples.
"""
import ctypes
import multiprocessing
import os
import signal
import sys
import time

import cv2
import numpy as np
from tqdm import tqdm

from neural_body_fitting import constants, geometry, render
from neural_body_fitting.body import pose_prior
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import encodings, layout
from neural_body_fitting.utils import images, locks, outputs

_SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
# Jitter of the person in the crop: shift of up to 4% of the crop, scale 0.9-1.1.
_SHIFT_FRACTION, _SCALE_RANGE = 0.04, (0.9, 1.1)


def sample_rng(seed, split, index):
    return np.random.default_rng([seed, _SPLIT_CODES[split], index])


def sample_parameters(rng, prior=pose_prior.PosePrior()):
    """(betas [10], pose [72], translation [3]) of one sample, the pose from `prior`."""
    betas = np.clip(rng.normal(size=constants.NUM_BETAS), -3.0, 3.0)
    pose = prior.sample(rng, 1)[0]
    scale = rng.uniform(*_SCALE_RANGE)
    depth = constants.FIXED_TRANSLATION[2] / scale
    shift = rng.uniform(-_SHIFT_FRACTION, _SHIFT_FRACTION, 2) * constants.CROP_SIZE
    translation = np.array([*(constants.FIXED_TRANSLATION[:2] + shift * depth
                              / constants.FOCAL_LENGTH_512), depth])
    return betas, pose, translation


def mirror_parameters(pose, translation):
    """Left/right mirror of a pose [72] and translation [3] (the camera sits on x = 0)."""
    return (geometry.mirror_axis_angle(pose).numpy(),
            np.asarray(translation) * (-1.0, 1.0, 1.0))


def random_background(rng, size=constants.CROP_SIZE):
    """uint8 [size, size, 3]: a colour gradient with blobs, stripes and noise."""
    corners = rng.integers(0, 256, size=(2, 2, 3)).astype(np.float32)
    background = cv2.resize(corners, (size, size), interpolation=cv2.INTER_LINEAR)
    for _ in range(rng.integers(3, 9)):
        centre = tuple(int(c) for c in rng.integers(0, size, 2))
        axes = tuple(int(a) for a in rng.integers(10, size // 3, 2))
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        cv2.ellipse(background, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    if rng.random() < 0.5:
        period = int(rng.integers(8, 40))
        stripes = ((np.arange(size) // period) % 2).astype(np.float32)[None, :, None]
        background = background * (0.85 + 0.15 * stripes)
    background += rng.normal(0, rng.uniform(2, 12), background.shape)
    return np.clip(cv2.GaussianBlur(background, (5, 5), 0), 0, 255).astype(np.uint8)


class SampleRenderer:
    """Renders samples of one body model (built once per process)."""

    def __init__(self, body_model, num_landmarks=14):
        from neural_body_fitting.body import smpl  # TensorFlow only where samples are made.

        if num_landmarks not in (14, 24):
            raise ValueError(f"num_landmarks must be 14 or 24, got {num_landmarks}")
        self.model = body_model
        self.num_landmarks = num_landmarks
        self.layer = smpl.SMPL(body_model)
        self.face_labels24 = render.face_labels_from_vertex_labels(body_model.part24 + 1,
                                                                   body_model.faces)

    def pose_bodies(self, betas, poses, translations):
        """Batched SMPL: vertices [N, V, 3], rest joints [N, 24, 3], landmarks [N, L, 3]."""
        from neural_body_fitting.body import smpl  # Loaded by __init__ already.

        out = self.layer(betas, poses, translations)
        landmarks = smpl.run_landmarks(out, self.num_landmarks)
        return (out["vertices"].numpy().astype(np.float64), out["rest_joints"].numpy(),
                landmarks.numpy().astype(np.float64))

    def render_sample(self, vertices, rng):
        """(image RGB, 24-part labels) uint8 at the crop size for one posed mesh."""
        labels = render.render_label_map(vertices, self.model.faces, self.face_labels24,
                                         constants.CROP_SIZE)
        albedo = rng.uniform(0.35, 0.95, 3)
        light = (rng.uniform(-1, 1), rng.uniform(-1, 0.2), -1.0)
        shaded, mask = render.render_shaded(vertices, self.model.faces, constants.CROP_SIZE,
                                            colour=albedo, light_direction=light)
        image = np.where(mask[..., None], shaded, random_background(rng))
        return image, labels


def fit_size_labels(labels):
    """Nearest-neighbour resize of a label map to the fitting network's 224 px.

    The colour maps are stored at this size: it is the only size stage 2
    reads, and decoding a 224 px PNG is about five times cheaper than 512.
    """
    return cv2.resize(labels, (constants.FIT_SIZE, constants.FIT_SIZE),
                      interpolation=cv2.INTER_NEAREST)


def _mirror_rendering(image, labels24):
    """Flips an image and a 24-part label map left/right, remapping the labels."""
    return image[:, ::-1].copy(), encodings.mirror_labels(24)[labels24[:, ::-1]].astype(np.uint8)


def sample_id(split, index):
    return f"{split}_{index:06d}"


def generate_samples(renderer, root, split, indices, seed, mirror_fraction,
                     extra_granularities=(), finished=(), prior=pose_prior.PosePrior()):
    """Generates and writes the samples `indices` of `split`; returns the ids written.

    Colour maps of `extra_granularities` (besides the 12 parts) are written to
    `colours_parts<k>/`; the 24-part label map makes them optional. Samples
    whose index is in `finished` are skipped, but their bodies are still
    posed in the batch, so the others are computed exactly as in a run
    without skips (a batch of another size may round differently).
    """
    rngs = [sample_rng(seed, split, index) for index in indices]
    params = [sample_parameters(rng, prior) for rng in rngs]
    mirrored = [rng.random() < mirror_fraction for rng in rngs]
    betas = np.stack([p[0] for p in params])
    poses = np.stack([p[1] for p in params])
    translations = np.stack([p[2] for p in params])
    vertices, rest_joints, landmarks = renderer.pose_bodies(betas, poses, translations)
    ids = []
    for k, index in enumerate(indices):
        if index in finished:
            continue
        image, labels = renderer.render_sample(vertices[k], rngs[k])
        pose, translation, posed = poses[k], translations[k], landmarks[k]
        if mirrored[k]:
            # The rendering is flipped and the parameters mirrored; with a
            # symmetric body model this equals rendering the mirrored body.
            image, labels = _mirror_rendering(image, labels)
            pose, translation = mirror_parameters(pose, translation)
            swap = (constants.MIRROR_LANDMARKS14 if renderer.num_landmarks == 14
                    else constants.MIRROR_JOINTS)
            posed = geometry.mirror_points(posed[swap]).numpy()
        projected = geometry.project_points(posed, constants.FIT_SIZE).numpy()
        name = sample_id(split, index)
        small = fit_size_labels(labels)
        layout.write_sample(
            root, name, image=image, labels=labels,
            colours=encodings.encode_labels(small, 12),
            smplparams=np.concatenate([betas[k], pose, translation]),
            rest_joints=rest_joints[k], posed_joints=posed, projected_joints=projected)
        for granularity in extra_granularities:
            images.write_png(layout.colour_map_path(root, name, granularity),
                              encodings.encode_labels(small, granularity))
        layout.record_finished(root, name)  # Last: all of the sample's files exist.
        ids.append(name)
    return ids


_WORKER = {}
_PR_SET_PDEATHSIG = 1  # From <linux/prctl.h>.


def _die_with_parent(parent_pid):
    """Has the kernel SIGKILL this worker when the generator dies, however it dies.

    Otherwise the workers of a killed generator go on writing samples for
    seconds, behind the back of whatever runs next. The signal is tied to the
    thread that started the worker, which holds the pool until it is closed.
    """
    if sys.platform != "linux":
        return
    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # The parent died before prctl took effect.
        os._exit(1)


def _worker_init(parent_pid, model_path, num_landmarks):
    _die_with_parent(parent_pid)
    # Ctrl-C reaches the whole process group; the parent alone handles it, by
    # terminating the pool, instead of every worker printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER["renderer"] = SampleRenderer(resolve_body_model(model_path),
                                         num_landmarks)


def _worker_run(job):
    return generate_samples(_WORKER["renderer"], *job)


class SettingsMismatch(ValueError):
    """The output folder holds an interrupted generation with other settings."""


def _check_settings(counts, latent_fraction, mirror_fraction, workers):
    """ValueError naming the first setting out of its range (before anything is written)."""
    for split, count in counts.items():
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"num_{split}: a number of samples is at least 0, got {count!r}")
    for name, value in (("latent_fraction", latent_fraction),
                        ("mirror_fraction", mirror_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: a fraction in [0, 1], got {value!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers: at least 1 worker process, got {workers!r}")


def generate_dataset(output_dir, counts, seed=0, body_model=None, latent_fraction=1.0,
                     mirror_fraction=0.0, num_landmarks=14, workers=1, chunk_size=16,
                     granularities=(12,), progress=True, overwrite=False,
                     prior=pose_prior.PosePrior()):
    """Writes a synthetic dataset, or finishes an interrupted one; returns the dataset.json dict.

    dataset.json says "complete": false from the start (the lists of an
    earlier dataset go before any sample is written) until the lists are
    written at the end. A kill, SIGINT or SIGTERM leaves it so: the pool is terminated
    (SIGINT) or its workers die with the generator (`_die_with_parent`).

    Args:
      output_dir: dataset root.
      counts: {'train': n, 'val': n, 'test': n}.
      seed: everything derives from it (independent of `workers`).
      body_model: a path, or None for $NBF_SMPL_MODEL or the synthetic model.
      latent_fraction: fraction of training samples whose latent flag is 1 (3D
        labels usable); validation and test samples always have 1.
      mirror_fraction: fraction of samples that are mirrored.
      num_landmarks: 14 (the original's landmarks) or 24 (SMPL joints).
      workers: processes (spawned; each loads the body model once).
      granularities: colour maps to write (12 always; others to colours_parts<k>/).
      prior: the `pose_prior.PosePrior` of the poses (dataset.json records it).
      overwrite: start afresh over an interrupted generation with other
        settings, instead of raising SettingsMismatch. One with the same
        settings is always resumed; a complete dataset or other files are
        written over (commands refuse folders not made by the library before
        this, `utils.outputs.claim`).

    Another process generating into `output_dir` is refused (DirectoryBusy);
    the folder is marked as the library's (`utils.outputs`).
    """
    _check_settings(counts, latent_fraction, mirror_fraction, workers)
    extra = tuple(g for g in granularities if g != 12)
    for granularity in extra:
        encodings.colour_table(granularity)  # Fails early on an unknown granularity.
    model = resolve_body_model(body_model)
    info = {
        "body_model": model.name, "granularities": list(encodings.GRANULARITIES),
        "colour_maps_written": sorted({12, *extra}),
        "num_landmarks": num_landmarks, "counts": dict(counts), "seed": seed,
        "latent_fraction": latent_fraction, "mirror_fraction": mirror_fraction,
        "pose_prior": prior.record(),
        "camera": {"focal_length_512": constants.FOCAL_LENGTH_512,
                   "fixed_translation": constants.FIXED_TRANSLATION.tolist(),
                   "convention": "opencv: x right, y down, looking along +z"},
    }
    with locks.own_directory(output_dir):  # One generator at a time in a folder.
        finished = _start_or_resume(output_dir, info, overwrite)
        outputs.mark(output_dir, "dataset generation")
        jobs = []
        for split, count in counts.items():
            for start in range(0, count, chunk_size):
                indices = list(range(start, min(count, start + chunk_size)))
                done = {i for i in indices if sample_id(split, i) in finished}
                if len(done) < len(indices):
                    jobs.append((output_dir, split, indices, seed, mirror_fraction, extra, done,
                                 prior))
        bar = tqdm(total=sum(counts.values()), initial=len(finished), desc="samples",
                   disable=not progress)
        if workers > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, _worker_init,
                              (os.getpid(), body_model, num_landmarks)) as pool:
                for ids in pool.imap(_worker_run, jobs):
                    bar.update(len(ids))
        else:
            renderer = SampleRenderer(model, num_landmarks)
            for job in jobs:
                bar.update(len(generate_samples(renderer, *job)))
        bar.close()
        for split, count in counts.items():
            flags = np.ones(count, int)
            if split == "train":
                rng = np.random.default_rng([seed, 99])
                flags = (rng.permutation(count) < round(latent_fraction * count)).astype(int)
            layout.write_split_list(output_dir, split, [(sample_id(split, i), flags[i])
                                                         for i in range(count)])
        return layout.finish_generation(output_dir, info)


# A second generator process pays for its start-up (it loads TensorFlow and
# the body model, ~10 s) only from about this many samples on.
SAMPLES_FOR_TWO_WORKERS = 100


def ensure_synthetic_dataset(root, counts, body_model=None, seed=0, mirror_fraction=0.5,
                             num_landmarks=14, progress=True, prior=pose_prior.PosePrior()):
    """Generates a synthetic dataset in `root` unless a complete one of this recipe is there.

    The recipe is what `generate_dataset` records in dataset.json: the
    counts, seed, mirror fraction, landmarks, pose prior and body model (all training
    samples with 3D labels). Only the 12-part colour maps are written: the
    pipeline makes every other part encoding from the 24-part label map.
    Prints which it did, as the demo and `nbf-reproduce` report it.
    """
    wanted = {"counts": dict(counts), "seed": seed, "mirror_fraction": mirror_fraction,
              "latent_fraction": 1.0, "num_landmarks": num_landmarks,
              "body_model": resolve_body_model(body_model).name,
              "pose_prior": prior.record(), "complete": True}
    info = layout.read_dataset_info(root)
    if all(info.get(key) == value for key, value in wanted.items()):
        print(f"Using the dataset in {root} ({dict(counts)})")
        return
    start = time.perf_counter()
    total = sum(counts.values())
    generate_dataset(root, counts, seed=seed, body_model=body_model,
                     mirror_fraction=mirror_fraction, num_landmarks=num_landmarks,
                     workers=2 if total >= SAMPLES_FOR_TWO_WORKERS else 1, progress=progress,
                     overwrite=True, prior=prior)
    print(f"Generated {total} samples in {time.perf_counter() - start:.0f} s -> {root}")


def _start_or_resume(root, info, overwrite):
    """The ids of the samples already finished: those of an interrupted
    generation of the same dataset (resumed), else none (a new one is started)."""
    previous = layout.read_dataset_info(root)
    interrupted = previous.get("complete") is False
    differing = [key for key in info if previous.get(key) != info[key]]
    if interrupted and differing and not overwrite:
        changes = "; ".join(f"{key}: {previous.get(key)!r} there, {info[key]!r} here"
                            for key in differing)
        raise SettingsMismatch(
            f"{os.path.join(root, 'dataset.json')}: an interrupted generation with other "
            f"settings is here ({changes}); rerun with its settings to resume it, or "
            "overwrite it (--overwrite)")
    layout.remove_temporary_files(root)  # Orphans of a killed run, whose workers are dead.
    if interrupted and not differing:
        return layout.read_finished(root)
    layout.start_generation(root, info)
    return set()
