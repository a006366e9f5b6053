"""Inference over a folder: stream the items, run the Predictor, write every output.

Items stream through tf.data (decoding and cropping in parallel, a batch at
a time), so a large folder is never held in memory; writer threads render
and write one batch while the networks run on the next. A person whose `.npz`
exists is finished and skipped unless `overwrite`. A bad item is recorded
with its message and the rest carry on; `index.html` lists both. Without a
people file, a `detector` finds the people (`serving.detected`; its OpenPose
JSON goes to `<output_dir>/keypoints/`).
"""
import concurrent.futures
import dataclasses
import os
import time

import numpy as np
import tensorflow as tf
import tqdm

from neural_body_fitting import constants
from neural_body_fitting.data import tf_data
from neural_body_fitting.serving import crops, detected, gallery, inputs, outputs, people
from neural_body_fitting.utils.images import DEFAULT_MAX_MEGAPIXELS

WRITER_THREADS = 2
KEYPOINTS_DIR = "keypoints"  # In the output folder: the detections as OpenPose JSON.


@dataclasses.dataclass
class Summary:
    """What a run of `run_inference` did."""

    written: list        # [person id] processed now
    skipped: list        # [person id] finished before
    failed: list         # [(item id or file, message)]
    gallery: str         # path of index.html
    seconds_predicting: float = 0.0
    seconds_waiting_for_writes: float = 0.0  # Of the total: waiting for the writer.
    seconds_total: float = 0.0
    notes: list = dataclasses.field(default_factory=list)  # [(item id, message)], not errors.


def _item_dataset(items, mode):
    """Batches-to-be of (index, image uint8 [S, S, 3], transform [4], landmarks [14, 3]
    in the crop (keypoints_fit; zeros otherwise), error string)."""
    size = constants.FIT_SIZE if mode == "fit" else constants.CROP_SIZE

    def load(index):
        item = items[int(index)]
        try:
            image, transform = inputs.load_item(item, mode)
            landmarks = np.zeros((14, 3))
            if mode == "keypoints_fit":
                landmarks = np.concatenate([transform.to_crop(item.landmarks14[:, :2]),
                                            item.landmarks14[:, 2:]], axis=1)
            return image, transform.as_array(), landmarks, b""
        except (OSError, ValueError) as error:
            return (np.zeros((size, size, 3), np.uint8), np.zeros(4), np.zeros((14, 3)),
                    str(error).encode())

    def load_tensors(index):
        image, transform, landmarks, error = tf.numpy_function(
            load, [index], (tf.uint8, tf.float64, tf.float64, tf.string))
        image.set_shape([size, size, 3])
        transform.set_shape([4])
        landmarks.set_shape([14, 3])
        error.set_shape([])
        return index, image, transform, landmarks, error

    return tf.data.Dataset.range(len(items)).map(
        load_tensors, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def run_inference(predictor, input_pattern, output_dir, mode="fit", people_file=None,
                  batch_size=8, overwrite=False, progress=True, detector=None,
                  max_megapixels=DEFAULT_MAX_MEGAPIXELS):
    """Runs `predictor` on every person of the inputs and writes the outputs and the gallery.

    Args:
      predictor: a `serving.Predictor` (with a segmenter for `segment_fit`).
      input_pattern: a folder, glob pattern or image file.
      output_dir: where `images/` and `index.html` go.
      mode: 'fit' (part maps or label maps), 'segment_fit' (images) or
        'keypoints_fit' (images whose people have landmarks; a joints14 run).
      people_file: keypoints or boxes (see `serving.people`); not for `fit`.
      batch_size: people per network call.
      overwrite: redo people whose outputs exist.
      detector: finds the people when there is no `people_file` (not for `fit`;
        `detect(image)` -> people with BlazePose landmarks, as `detection.Detector`).
      max_megapixels: larger images are refused (a failed item) before decoding.
    Returns:
      a Summary.
    """
    if mode not in inputs.MODES:
        raise ValueError(f"mode must be one of {inputs.MODES}, got '{mode}'")
    if people_file and mode == "fit":
        raise ValueError("keypoints and boxes crop photographs (segment_fit, keypoints_fit); "
                         "part maps (fit) are used as given")
    if detector is not None and (people_file or mode == "fit"):
        raise ValueError("the detector finds people in photographs (segment_fit, "
                         "keypoints_fit), when no keypoints or boxes are given")
    if mode == "keypoints_fit" and not (people_file or detector is not None):
        raise ValueError("keypoints_fit fits each person's landmarks: give keypoints or a "
                         "detector")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise NotADirectoryError(f"output folder {output_dir}: a file, not a folder")
    predictor.check_mode(mode)
    start = time.perf_counter()
    paths, notes, failed = inputs.list_images(input_pattern), [], []
    if detector is not None:
        people_by_image, notes, failed = detected.detect_images(
            detector, paths, os.path.join(output_dir, KEYPOINTS_DIR),
            max_megapixels=max_megapixels)
        # Images without anyone have their note; they are no items.
        paths = [path for path in paths if people.image_key(path) in people_by_image]
    else:
        people_by_image = people.read_people(people_file) if people_file else None
    items = inputs.collect_items(paths, people_by_image, people_file or "the detections",
                                 max_megapixels)
    if mode == "keypoints_fit":  # Boxes alone give no landmarks.
        items = [item if item.error or item.landmarks14 is not None else dataclasses.replace(
            item, error=f"{item.path}: person {item.person} has a box but no landmarks; "
            "keypoints_fit needs keypoints") for item in items]
    summary = Summary([], [], failed + [(item.id, item.error) for item in items if item.error],
                      "", notes=notes)
    todo = []
    for item in items:
        if item.error:
            continue
        if not overwrite and outputs.is_finished(output_dir, item.id):
            summary.skipped.append(item.id)
        else:
            todo.append(item)
    run = {"fit": predictor.fit, "segment_fit": predictor.segment_fit,
           "keypoints_fit": predictor.keypoints_fit}[mode]
    batches = tf_data.without_autotune(_item_dataset(todo, mode).batch(batch_size).prefetch(1))
    # Writer threads render and write a batch while the networks run on the
    # next (OpenCV, NumPy and file I/O release the GIL); at most one batch
    # waits. Two threads halve the last batch's writes, which nothing overlaps.
    with tqdm.tqdm(total=len(todo), disable=not progress, unit="person") as bar, \
            concurrent.futures.ThreadPoolExecutor(max_workers=WRITER_THREADS) as writer:
        pending = []
        for indices, images, transforms, landmarks, errors in batches.as_numpy_iterator():
            good = []
            for k, (index, error) in enumerate(zip(indices, errors)):
                if error:
                    summary.failed.append((todo[index].id, error.decode()))
                else:
                    good.append(k)
            if good:
                network_input = landmarks[good] if mode == "keypoints_fit" else images[good]
                batch = _predict(run, [todo[indices[k]] for k in good], network_input,
                                 images[good], transforms[good], summary)
                _collect(pending, summary)
                pending = [writer.submit(_write, output_dir, predictor.faces, mode, *batch, k)
                           for k in range(len(good))]
            bar.update(len(indices))
        _collect(pending, summary)
    finished = [(item.id, os.path.basename(item.path)) for item in items
                if not item.error and outputs.is_finished(output_dir, item.id)]
    summary.gallery = gallery.write_gallery(output_dir, finished, summary.failed,
                                            summary.notes)
    summary.seconds_total = time.perf_counter() - start
    return summary


def _predict(run, items, network_input, images, transform_arrays, summary):
    """(items, images, transforms, result) of a batch after the networks ran on its input
    (the images, or the landmarks in the crops)."""
    transforms = [crops.CropTransform.from_array(row) for row in transform_arrays]
    tick = time.perf_counter()
    result = run(network_input, transforms, return_vertices=True)
    summary.seconds_predicting += time.perf_counter() - tick
    return items, images, transforms, result


def _write(output_dir, faces, mode, items, images, transforms, result, k):
    """Writes person k of a batch; returns (id, error message or None)."""
    item = items[k]
    try:
        # Crops read as whole files are their own originals; a part map's
        # original is the map at its own size.
        cropped = item.box is not None or mode == "fit"
        original = inputs.load_original(item, mode) if cropped else None
        outputs.write_person(output_dir, item.id, result, k, faces, images[k], original,
                             transforms[k], item.landmarks14)
        error = None
    except (OSError, ValueError) as failure:
        error = f"writing the outputs failed: {failure}"
    return item.id, error


def _collect(pending, summary):
    """Waits for a batch's writes and records them, and how long the wait took."""
    tick = time.perf_counter()
    for future in pending:
        person_id, error = future.result()
        if error:
            summary.failed.append((person_id, error))
        else:
            summary.written.append(person_id)
    summary.seconds_waiting_for_writes += time.perf_counter() - tick
