"""People found by the detector as nbf-infer's inputs: the 14 landmarks of BlazePose's 33
and of OpenPose's layouts, the detections' OpenPose JSON and nbf-infer on real frames."""
import json
import os

import numpy as np
import pytest
from serving_helpers import untrained_fitting_run

from neural_body_fitting import constants, detection, serving
from neural_body_fitting.data import encodings
from neural_body_fitting.serving import crops, detected, inputs, keypoints, outputs, people

REAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "real")
L14 = {name: index for index, name in enumerate(constants.LANDMARK14_NAMES)}


@pytest.fixture(scope="module")
def detector():
    return detection.Detector(masks=False)


def standing_body25(x=100.0, y=100.0, scale=1.0):
    """BODY_25 keypoints [25, 3] of an upright person facing the camera (their left on
    the image's right), head at (x, y), all confident."""
    at = {"nose": (0, 20), "right_eye": (-5, 15), "left_eye": (5, 15), "right_ear": (-10, 18),
          "left_ear": (10, 18), "right_shoulder": (-25, 50), "left_shoulder": (25, 50),
          "right_elbow": (-30, 90), "left_elbow": (30, 90), "right_wrist": (-32, 125),
          "left_wrist": (32, 125), "right_hip": (-15, 130), "left_hip": (15, 130),
          "right_knee": (-16, 190), "left_knee": (16, 190), "right_ankle": (-17, 250),
          "left_ankle": (17, 250)}
    points = np.zeros((25, 3))
    for name, (u, v) in at.items():
        points[keypoints.BODY25_NAMES.index(name)] = [x + scale * u, y + scale * v, 0.9]
    return points


def test_neck_and_head_top_are_estimated_from_the_shoulders_and_face():
    points = standing_body25()
    found = keypoints.landmarks14(points, keypoints.BODY25_NAMES)
    np.testing.assert_allclose(found[L14["neck"]], [100, 150, 0.9])
    face_y = 100 + (15 + 15 + 18 + 18) / 4  # The mean of the eyes and ears.
    np.testing.assert_allclose(found[L14["head_top"]],
                               [100, 150 + keypoints.HEAD_TOP_FACTOR * (face_y - 150), 0.9])
    np.testing.assert_allclose(found[L14["left_ankle"]], [117, 350, 0.9])
    # COCO-18 holds the same points in another order: the same landmarks.
    coco18 = keypoints.to_layout(points, keypoints.BODY25_NAMES, keypoints.COCO18_NAMES)
    np.testing.assert_allclose(keypoints.landmarks14(coco18, keypoints.COCO18_NAMES), found)
    # Without a confident eye or ear (or a shoulder) there is no head top.
    faceless = points.copy()
    faceless[[keypoints.BODY25_NAMES.index(name) for name in keypoints.FACE_NAMES], 2] = 0.05
    assert not keypoints.landmarks14(faceless, keypoints.BODY25_NAMES)[L14["head_top"]].any()


def test_an_openpose_person_box_reaches_the_estimated_head_top(tmp_path):
    points = standing_body25()
    (tmp_path / "a_keypoints.json").write_text(detected.openpose_json([points]))
    person = people.read_people(str(tmp_path))["a"][0]
    top = keypoints.landmarks14(points, keypoints.BODY25_NAMES)[L14["head_top"], 1]
    assert top < 100 and person.box == pytest.approx((68, top, 132, 350))
    assert person.landmarks14.shape == (14, 3)


def test_tiny_and_cut_people_get_their_message():
    small = detected._person(standing_body25(scale=0.1), "x.jpg, person 0", 0.1)
    assert small.box is None and "under the 40 px a crop needs" in small.error
    assert detected._person(standing_body25(), "x.jpg, person 0", 0.1).error is None
    cut = detected.outside_image(standing_body25(y=200), height=400, width=640)
    assert cut == ["right_ankle", "left_ankle"]


def test_the_14_landmarks_of_a_detection_keep_left_and_right(detector):
    image = inputs.as_rgb8(inputs.read_pixels(os.path.join(REAL, "skimage_astronaut.jpg")))
    (person,) = detector.detect(image)
    found = keypoints.landmarks14(detected.body25(person.landmarks), keypoints.BODY25_NAMES)
    # The astronaut faces the camera: her left shoulder is on the image's right.
    assert found[L14["left_shoulder"], 0] > found[L14["right_shoulder"], 0] + 50
    assert found[L14["left_elbow"], 0] > found[L14["right_elbow"], 0]
    left = detection.landmarks.LANDMARK_INDEX["left_shoulder"]
    np.testing.assert_allclose(found[L14["left_shoulder"], :2], person.landmarks[left, :2])
    neck, top = found[L14["neck"]], found[L14["head_top"]]
    assert found[L14["right_shoulder"], 0] < neck[0] < found[L14["left_shoulder"], 0]
    # The head top is above the eyes, within the labelled box (hair included).
    eyes = person.landmarks[[detection.landmarks.LANDMARK_INDEX["left_eye"],
                             detection.landmarks.LANDMARK_INDEX["right_eye"]], 1]
    assert 11 - 15 < top[1] < eyes.min() - 20


def test_nbf_infer_detects_every_labelled_person_and_its_json_gives_the_same_crops(
        eager, detector, tmp_path):
    with open(os.path.join(REAL, "people.json"), encoding="utf-8") as stream:
        labelled = json.load(stream)["images"]
    out = str(tmp_path / "out")
    summary = serving.run_inference(eager, REAL, out, "segment_fit", detector=detector,
                                    progress=False)
    assert summary.failed == []
    for name, boxes in labelled.items():
        key = people.image_key(name)
        ids = sorted(i for i in summary.written if i.rsplit("_p", 1)[0] == key)
        assert len(ids) == len(boxes), (name, ids)
        # Each labelled person holds the centre of one crop, and the crop's 440 px are
        # within 25 % of the labelled height (the box is hair to feet, the crop's
        # height ankles to head top).
        centres = {i: np.load(outputs.person_paths(out, i)["npz"])["crop_transform"]
                   for i in ids}
        for x0, y0, x1, y1 in boxes:
            inside = [i for i, (scale, cx, cy, _) in centres.items()
                      if x0 < cx < x1 and y0 < cy < y1]
            assert len(inside) == 1, (name, inside)
            height = 440 / centres[inside[0]][0]
            assert 0.75 * (y1 - y0) < height < 1.25 * (y1 - y0), (name, height, y1 - y0)
        for person_id in ids:
            assert os.path.isfile(outputs.landmarks_path(out, person_id))
        assert os.path.isfile(os.path.join(out, "keypoints", f"{key}_keypoints.json"))
    notes = dict(summary.notes)
    assert "no person found" in notes["skimage_coffee"]
    assert "skimage_astronaut_p0" in notes and "cut by the image border" in notes[
        "skimage_astronaut_p0"] and "left_ankle" in notes["skimage_astronaut_p0"]
    text = open(summary.gallery, encoding="utf-8").read()
    assert "Notes (2)" in text and "_landmarks.png" in text

    # The written detections, read back as OpenPose keypoints, give the same crops.
    again = serving.run_inference(eager, REAL, str(tmp_path / "again"), "segment_fit",
                                  people_file=os.path.join(out, "keypoints"), progress=False)
    assert sorted(again.written) == sorted(summary.written)
    assert [name for name, _ in again.failed] == ["skimage_coffee"]  # No one in it.
    for person_id in summary.written:
        first = np.load(outputs.person_paths(out, person_id)["npz"])
        second = np.load(outputs.person_paths(str(tmp_path / "again"), person_id)["npz"])
        np.testing.assert_array_equal(first["crop_transform"], second["crop_transform"])


def test_keypoints_fit_fits_every_detected_person_from_their_landmarks(detector, tmp_path):
    fitting_run = untrained_fitting_run(str(tmp_path / "run"), input_type="joints14")
    out = str(tmp_path / "out")
    summary = serving.run_inference(serving.Predictor.from_runs(fitting_run), REAL, out,
                                    "keypoints_fit", detector=detector, progress=False)
    with open(os.path.join(REAL, "people.json"), encoding="utf-8") as stream:
        labelled = json.load(stream)["images"]
    assert summary.failed == []
    assert len(summary.written) == sum(len(boxes) for boxes in labelled.values())
    gallery = open(summary.gallery, encoding="utf-8").read()
    for person_id in summary.written:
        paths = outputs.person_paths(out, person_id)
        written = np.load(paths["npz"])
        assert np.isfinite(written["vertices"]).all() and written["betas"].shape == (10,)
        assert os.path.isfile(paths["overlay_original"]) and person_id in gallery
        # The network read the detected landmarks, drawn as training draws them.
        key, index = person_id.rsplit("_p", 1)
        found = people.read_people(os.path.join(out, "keypoints"))[key][int(index)]
        transform = crops.CropTransform.from_array(written["crop_transform"])
        in_fit = transform.to_crop(found.landmarks14[:, :2]) * constants.FIT_SIZE / 512
        in_fit[found.landmarks14[:, 2] < keypoints.MIN_CONFIDENCE] = np.nan
        np.testing.assert_array_equal(written["joint_map"], encodings.draw_joint_map(
            in_fit.astype(np.float32)))
