"""The person detector (neural_body_fitting/detection): anchors, decoding, suppression
and the ROI warps against hand-derived numbers, then the BlazePose models on the
committed real photographs (tests/data/real) with networking switched off.

The model tests need the files `nbf-models fetch` extracts (the Makefile's `test`
target runs it first); without them they are skipped, naming the command.
"""
import json
import math
import os
import shutil
import socket
import zipfile

import numpy as np
import pytest

from neural_body_fitting.detection import anchors, decoding, landmarks, models, regions
from neural_body_fitting.utils import images

REAL = os.path.join(os.path.dirname(__file__), "data", "real")


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt fails: the detector must never download anything."""
    def refuse(*args, **kwargs):
        raise OSError("networking is switched off in test_detection.py")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


@pytest.fixture(scope="session")
def model_folder():
    folder = models.cache_folder()
    try:
        for model in models.MODEL_FILES:
            models.model_path(model, folder)
    except models.ModelFileError as error:
        pytest.skip(f"{error}")
    return folder


@pytest.fixture(scope="session")
def detector(model_folder):
    from neural_body_fitting.detection.detector import Detector

    return Detector(model_folder, num_threads=2)


@pytest.fixture(scope="session")
def labels():
    with open(os.path.join(REAL, "people.json"), encoding="utf-8") as stream:
        return json.load(stream)["images"]


@pytest.fixture(scope="session")
def found(detector, labels):
    """{image name: list of Person} for every committed real image."""
    return {name: detector.detect(images.read_image(os.path.join(REAL, name)))
            for name in labels}


# --- Anchors -------------------------------------------------------------------------

def test_anchor_count_and_known_anchors():
    centres = anchors.anchor_centres()
    assert centres.shape == (2254, 2)
    # Stride 8: a 28 x 28 grid, two anchors per cell, row by row.
    np.testing.assert_allclose(centres[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(centres[1], centres[0])
    np.testing.assert_allclose(centres[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(centres[2 * 28], [0.5 / 28, 1.5 / 28])
    np.testing.assert_allclose(centres[1567], [27.5 / 28, 27.5 / 28])
    # Stride 16: 14 x 14, two per cell, from 1568.
    np.testing.assert_allclose(centres[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(centres[1570], [1.5 / 14, 0.5 / 14])
    # The three stride-32 layers share a 7 x 7 grid: six anchors per cell, from 1960.
    np.testing.assert_allclose(centres[1960:1966], np.tile([0.5 / 7, 0.5 / 7], (6, 1)))
    np.testing.assert_allclose(centres[1966], [1.5 / 7, 0.5 / 7])
    np.testing.assert_allclose(centres[-1], [6.5 / 7, 6.5 / 7])


# --- Decoding and suppression --------------------------------------------------------

def _raw(entries):
    """A made-up detector output: {anchor: (logit, 12 raw values)}, every other anchor
    at logit -10 and zeros."""
    boxes = np.zeros((2254, 12), np.float32)
    scores = np.full((2254, 1), -10.0, np.float32)
    for anchor, (logit, values) in entries.items():
        scores[anchor], boxes[anchor] = logit, values
    return boxes, scores


def test_box_and_keypoint_decoding_of_a_made_up_output():
    centres = anchors.anchor_centres()
    # Anchor 1568 is at (1/28, 1/28). Box centre offset (+22.4, -11.2) input pixels,
    # size 44.8 x 22.4; keypoints (x, y) offsets in input pixels.
    values = [22.4, -11.2, 44.8, 22.4, 0.0, 112.0, 0.0, -44.8, 11.2, 22.4, -22.4, -67.2]
    boxes, scores = _raw({1568: (2.0, values), 7: (1000.0, [0.0] * 12)})
    found = decoding.decode(boxes, scores, centres)
    assert len(found) == 2
    order = np.argsort(-found.scores)
    assert found.scores[order[0]] == 1.0  # A logit of 1000 is clipped to 100: no overflow.
    np.testing.assert_allclose(found.scores[order[1]], 1 / (1 + math.exp(-2.0)), rtol=1e-6)
    box, keypoints = found.boxes[order[1]], found.keypoints[order[1]]
    c = 1 / 28
    np.testing.assert_allclose(box, [c + 0.1 - 0.1, c - 0.05 - 0.05, c + 0.1 + 0.1,
                                     c - 0.05 + 0.05], atol=1e-6)
    np.testing.assert_allclose(keypoints, [[c, c + 0.5], [c, c - 0.2], [c + 0.05, c + 0.1],
                                           [c - 0.1, c - 0.3]], atol=1e-6)
    # The threshold is on the probability: logit 0 is 0.5, kept; just below, dropped.
    boxes, scores = _raw({3: (0.0, [0.0] * 12), 4: (-0.01, [0.0] * 12)})
    assert len(decoding.decode(boxes, scores, centres)) == 1


def _detections(rows):
    """Detections from (score, box, keypoint 0) rows; the other keypoints copy keypoint 0."""
    return decoding.Detections(
        np.array([r[0] for r in rows], np.float32), np.array([r[1] for r in rows], np.float32),
        np.array([[r[2]] * 4 for r in rows], np.float32))


def test_nms_merges_one_person_and_keeps_two_separated_people():
    one = [(0.9, [0.10, 0.10, 0.30, 0.30], [0.2, 0.4]),
           (0.6, [0.12, 0.10, 0.32, 0.30], [0.23, 0.4])]  # IoU 0.82 with the first.
    other = [(0.7, [0.60, 0.10, 0.80, 0.30], [0.7, 0.4])]
    merged = decoding.weighted_nms(_detections(one + other))
    assert len(merged) == 2
    np.testing.assert_allclose(merged.scores, [0.9, 0.7])
    # Score-weighted average of the group: 0.6 and 0.4.
    np.testing.assert_allclose(merged.boxes[0], [0.108, 0.10, 0.308, 0.30], atol=1e-6)
    np.testing.assert_allclose(merged.keypoints[0, 0], [0.212, 0.4], atol=1e-6)
    np.testing.assert_allclose(merged.boxes[1], other[0][1])
    # Overlap below 0.3 is a different person, above it the same one.
    apart = [(0.9, [0.0, 0.0, 0.2, 0.2], [0.1, 0.1]), (0.8, [0.12, 0.0, 0.32, 0.2], [0.2, 0.1])]
    assert decoding.iou(np.array(apart[0][1]), np.array([apart[1][1]]))[0] == pytest.approx(0.25)
    assert len(decoding.weighted_nms(_detections(apart))) == 2
    near = [(0.9, [0.0, 0.0, 0.2, 0.2], [0.1, 0.1]), (0.8, [0.1, 0.0, 0.3, 0.2], [0.2, 0.1])]
    assert decoding.iou(np.array(near[0][1]), np.array([near[1][1]]))[0] == pytest.approx(1 / 3)
    assert len(decoding.weighted_nms(_detections(near))) == 1
    assert len(decoding.weighted_nms(_detections([]))) == 0


# --- Regions -------------------------------------------------------------------------

def test_roi_from_keypoints_centre_size_and_rotation():
    upright = regions.roi_from_keypoints((100, 200), (100, 120))  # Keypoint 1 above.
    assert upright.centre == (100, 200) and upright.rotation == pytest.approx(0)
    assert upright.size == pytest.approx(2 * 80 * 1.25)
    lying = regions.roi_from_keypoints((100, 200), (180, 200))  # Head to the image's right.
    assert lying.rotation == pytest.approx(math.pi / 2)
    # The ROI's top centre (the head's side) lands on the image's right of the centre.
    top = regions.apply(lying.matrix(), [128, 0])
    np.testing.assert_allclose(top, [100 + lying.size / 2, 200], atol=1e-9)


def _coordinate_image(height, width):
    """[H, W, 2] float32: every pixel holds its own centre (x, y) in continuous pixels."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    return np.stack([xs, ys], axis=-1)


def test_roi_warp_round_trip_is_within_half_a_pixel():
    height, width = 300, 400
    coordinates = _coordinate_image(height, width)
    roi = regions.Roi((210.0, 160.0), 180.0, 0.6)  # Turned, well inside the image.
    to_image = roi.matrix()
    square = regions.warp_from_image(coordinates, to_image, regions.LANDMARK_SIZE)
    # Image -> ROI: each ROI pixel sampled the image point its centre maps to.
    centres = _coordinate_image(regions.LANDMARK_SIZE, regions.LANDMARK_SIZE)
    assert np.abs(square - regions.apply(to_image, centres)).max() < 0.5
    # ROI -> image: the ROI put back gives every image pixel inside it its own centre.
    back = regions.warp_to_image(square, to_image, height, width)
    inside = regions.warp_to_image(np.ones(square.shape[:2], np.float32), to_image, height,
                                   width) > 0.999
    assert inside.sum() > 0.9 * (180 / 1.25) ** 2  # Most of the ROI's area.
    assert np.abs(back - coordinates)[inside].max() < 0.5
    # A landmark at ROI pixel p is at apply(to_image, p) and maps back exactly.
    point = np.array([[40.0, 200.0, 0.0, 0.0, 0.0]] * 39)
    mapped = landmarks.image_landmarks(point, to_image)[0, :2]
    np.testing.assert_allclose(regions.apply(regions.invert(to_image), mapped), [40, 200],
                               atol=1e-4)


def test_letterbox_centres_the_image_and_pads_with_minus_one():
    image = np.full((100, 200, 3), 255, np.uint8)
    tensor, to_image = regions.detector_input(image)
    assert tensor.shape == (1, 224, 224, 3) and tensor.dtype == np.float32
    np.testing.assert_allclose(regions.apply(to_image, [112, 112]), [100, 50])
    assert tensor[0, 0, 0, 0] == -1.0 and tensor[0, 112, 112, 0] == 1.0
    # 100 rows scale to 112, rows 56 to 167; bilinear sampling blends one row each side.
    assert (tensor[0, :55] == -1).all() and (tensor[0, 169:] == -1).all()
    assert (tensor[0, 57:167, 1:223] == 1).all()


def test_tiles_cover_a_wide_frame_with_squares_of_its_short_side():
    assert regions.tiles(360, 640) == [(0, 0, 360), (180, 0, 360), (280, 0, 360)]
    assert regions.tiles(300, 300) == []  # The whole image already is the square.


# --- Model files ---------------------------------------------------------------------

def test_a_missing_model_names_the_fetch_command(tmp_path):
    with pytest.raises(models.ModelFileError, match="run `nbf-models fetch`"):
        models.model_path(models.POSE_DETECTION, str(tmp_path))


def test_a_damaged_model_names_expected_and_found_hashes(tmp_path):
    (tmp_path / models.POSE_DETECTION.name).write_bytes(b"not a model")
    found = models.sha256_of(str(tmp_path / models.POSE_DETECTION.name))
    with pytest.raises(models.ModelFileError) as error:
        models.model_path(models.POSE_DETECTION, str(tmp_path))
    assert found in str(error.value) and models.POSE_DETECTION.sha256 in str(error.value)


def test_a_wheel_with_other_models_writes_nothing(tmp_path):
    wheel = tmp_path / "mediapipe-0.10.21-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for model in models.MODEL_FILES:
            archive.writestr(model.member, b"different bytes")
        archive.writestr(models.LICENCE_MEMBER, "Apache License")
    folder = tmp_path / "cache"
    with pytest.raises(models.ModelFileError, match="expected"):
        models.fetch(str(folder), wheel=str(wheel))
    assert not folder.exists() or not os.listdir(folder)


def test_fetch_is_a_no_op_when_the_files_are_there(model_folder, tmp_path):
    folder = tmp_path / "blazepose"
    shutil.copytree(model_folder, folder)

    def no_pip(*args, **kwargs):
        raise AssertionError("fetch called pip although the files were there")

    assert models.fetch(str(folder), runner=no_pip) == (str(folder), [])
    assert "Apache License" in (folder / models.LICENCE_FILE).read_text()


def test_the_cache_folder_follows_nbf_cache():
    assert models.cache_folder({"NBF_CACHE": "/data/c"}) == os.path.join("/data/c", "blazepose")
    assert models.cache_folder({}).endswith(os.path.join(".cache", "neural_body_fitting",
                                                         "blazepose"))


# --- The models on real photographs --------------------------------------------------

def test_every_labelled_person_is_found_and_no_one_else(found, labels):
    for name, boxes in labels.items():
        people = found[name]
        detected = np.array([p.box for p in people]).reshape(-1, 4)
        for box in boxes:
            if box[3] - box[1] <= 100:
                continue
            overlaps = decoding.iou(np.array(box, np.float32), detected)
            assert overlaps.size and overlaps.max() >= 0.5, (name, box, detected)
        assert len(people) == len(boxes), (name, detected)
    assert all(len(found[name]) >= 2 for name in labels if name.startswith("sports2d"))
    assert found["skimage_coffee.jpg"] == []


def test_the_person_outputs_have_their_shapes_and_ranges(found):
    image = images.read_image(os.path.join(REAL, "sports2d_demo_frame069.jpg"))
    for person in found["sports2d_demo_frame069.jpg"]:
        assert person.landmarks.shape == (33, 5) and person.world_landmarks.shape == (33, 3)
        assert 0.5 <= person.score <= 1 and person.presence >= 0.5
        assert ((person.landmarks[:, 3:] >= 0) & (person.landmarks[:, 3:] <= 1)).all()
        assert person.mask.shape == image.shape[:2] and person.mask.dtype == np.float32
        assert 0 <= person.mask.min() and person.mask.max() <= 1
        # The mask is the person: a good part of their box (arms out leave much of it
        # empty), little of the rest of the image.
        x0, y0, x1, y1 = person.box.astype(int)
        outside = np.ones(image.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        assert person.mask[y0:y1, x0:x1].mean() > 0.15 and person.mask[outside].mean() < 0.02
        # World landmarks: metres, origin between the hips, a person-sized skeleton.
        hips = person.world_landmarks[[23, 24]].mean(axis=0)
        assert np.abs(hips).max() < 0.05
        extent = np.ptp(person.world_landmarks, axis=0).max()
        assert 0.8 < extent < 2.5


def test_left_landmarks_are_on_the_left_of_a_person_facing_the_camera(found):
    (astronaut,) = found["skimage_astronaut.jpg"]
    x = astronaut.landmarks[:, 0]
    index = landmarks.LANDMARK_INDEX
    # Facing the camera, the person's left is the image's right.
    for part in ("shoulder", "eye", "ear", "elbow"):
        assert x[index[f"left_{part}"]] > x[index[f"right_{part}"]], part


def test_the_landmark_model_gives_the_same_in_a_batch_as_alone(detector):
    image = images.read_image(os.path.join(REAL, "sports2d_demo_frame069.jpg"))
    _, rois = detector.find(image)
    assert len(rois) >= 2
    together = detector.landmarks_in(image, rois)
    for roi, batched in zip(rois, together):
        (alone,) = detector.landmarks_in(image, [roi])
        assert alone[0] == pytest.approx(batched[0], abs=1e-5)
        np.testing.assert_allclose(alone[1], batched[1], atol=1e-3)
        np.testing.assert_allclose(alone[2], batched[2], atol=1e-5)


def test_greyscale_and_rgba_photographs_are_converted(detector):
    image = images.read_image(os.path.join(REAL, "skimage_astronaut.jpg"))
    rgba = np.concatenate([image, np.full(image.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    np.testing.assert_allclose(detector.detect(rgba)[0].landmarks,
                               detector.detect(image)[0].landmarks)
    grey = (image.astype(np.float32) @ [0.299, 0.587, 0.114]).round().astype(np.uint8)
    assert len(detector.detect(grey)) == 1
    assert len(detector.detect(grey[..., None])) == 1


@pytest.mark.parametrize("image, message", [
    (np.zeros((64, 64, 3), np.float32), "uint8"),
    (np.zeros((64, 64, 2), np.uint8), r"shape \(64, 64, 2\)"),
    (np.zeros((2, 64, 64, 3), np.uint8), "shape"),
    (np.zeros((0, 64, 3), np.uint8), "shape"),
    ([[0, 1], [2, 3]], "numpy array"),
])
def test_wrong_images_are_refused_naming_the_argument(detector, image, message):
    with pytest.raises(ValueError, match=message) as error:
        detector.detect(image)
    assert str(error.value).startswith("image: ")
