"""The keypoint-driven fit: detector-like corruption of training landmarks
(data.keypoint_noise), joint maps drawn from landmarks in serving exactly as in
training, and `keypoints_fit` through the Predictor, the SavedModel and
`run_inference`."""
import json

import cv2
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import person_image, untrained_fitting_run

from neural_body_fitting import configs, constants, data, serving
from neural_body_fitting.data import encodings, keypoint_noise, synthesis
from neural_body_fitting.serving import crops, export, keypoints, outputs
from neural_body_fitting.serving import predictor as predictor_module

Corruption = keypoint_noise.KeypointCorruption
SCALE = constants.CROP_SIZE / constants.FIT_SIZE  # 224 fitting-input pixels -> 512 crop pixels.


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("joints_data"))
    synthesis.generate_dataset(path, {"train": 4}, seed=3, progress=False)
    return path


@pytest.fixture(scope="module")
def split(root):
    return data.load_split(root, "train", "joints14")


@pytest.fixture(scope="module")
def joints_run(tmp_path_factory):
    return untrained_fitting_run(str(tmp_path_factory.mktemp("joints_run")),
                                 input_type="joints14")


@pytest.fixture(scope="module")
def joints_predictor(joints_run):
    return serving.Predictor.from_runs(joints_run)


def corrupted(landmarks, corruption, count):
    """[count, L, 2] corruptions of one sample's landmarks [L, 2], seeds (7, k), drawn in
    a tf.data map as the training pipeline draws them."""
    seeded = tf.data.Dataset.range(count).map(lambda k: keypoint_noise.corrupt_landmarks(
        tf.stack([tf.constant(7, tf.int64), k]), landmarks, corruption))
    return next(iter(seeded.batch(count))).numpy()


# --- Corruption -----------------------------------------------------------------------------

def test_each_kind_of_corruption_has_its_rate_and_size(split):
    truth = split.landmarks_2d[0].astype(np.float32)
    size = float(np.ptp(truth, axis=0).max())
    np.testing.assert_array_equal(corrupted(truth, Corruption(), 3), np.stack([truth] * 3))
    count = 2000
    jittered = corrupted(truth, Corruption(jitter=0.05), count)
    residual = (jittered - truth) / size
    assert abs(residual.std() / 0.05 - 1) < 0.03, residual.std()
    assert np.abs(residual.mean(axis=0)).max() < 4 * 0.05 / np.sqrt(count)
    swapped = corrupted(truth, Corruption(swap_rate=0.3), count)
    mirrored = truth[encodings.landmark_mirror(14)]
    is_swapped = np.all(swapped == mirrored, axis=(1, 2))
    assert np.all(is_swapped | np.all(swapped == truth, axis=(1, 2)))
    assert abs(is_swapped.mean() - 0.3) < 0.03, is_swapped.mean()
    dropped = corrupted(truth, Corruption(drop_rate=0.2), count)
    missing = np.isnan(dropped)
    np.testing.assert_array_equal(missing[..., 0], missing[..., 1])
    assert abs(missing[..., 0].mean() - 0.2) < 0.01
    np.testing.assert_array_equal(dropped[~missing].reshape(-1), np.broadcast_to(
        truth, dropped.shape)[~missing].reshape(-1))
    # A seed gives one corruption; another seed another.
    again = corrupted(truth, Corruption(jitter=0.05), 2)
    np.testing.assert_array_equal(again, jittered[:2])
    assert not np.array_equal(again[0], again[1])


def test_the_pipeline_corrupts_the_drawn_input_and_keeps_the_target(split):
    base = data.FittingInputs(input_type="joints14", input_size=constants.FIT_SIZE)

    def first_batch(corruption, skip_batches=0):
        inputs = base if corruption is None else data.FittingInputs(
            input_type="joints14", input_size=constants.FIT_SIZE, corruption=corruption)
        dataset = data.make_dataset(split, inputs, batch_size=2, shuffle=False,
                                    skip_batches=skip_batches)
        return next(iter(dataset))

    exact = first_batch(None)
    swapped = first_batch(Corruption(swap_rate=1.0))
    mirror = encodings.landmark_mirror(14)
    for k in range(2):
        landmarks = split.landmarks_2d[k].astype(np.float32)
        np.testing.assert_array_equal(exact["input"][k],
                                      encodings.scale_input(encodings.draw_joint_map(landmarks)))
        np.testing.assert_array_equal(swapped["input"][k], encodings.scale_input(
            encodings.draw_joint_map(landmarks[mirror])))
        np.testing.assert_array_equal(swapped["landmarks_2d"][k], landmarks)  # The target.
    assert np.all(first_batch(Corruption(drop_rate=1.0))["input"].numpy() == -1.0)
    # Each pass draws new noise; a resumed stream continues where it stopped.
    jitter = Corruption(jitter=0.05)
    inputs = data.FittingInputs(input_type="joints14", corruption=jitter)
    batches = list(data.make_dataset(split, inputs, batch_size=2, shuffle=False).take(4))
    assert not np.array_equal(batches[0]["input"], batches[2]["input"])  # Same samples.
    resumed = first_batch(jitter, skip_batches=3)
    np.testing.assert_array_equal(resumed["input"], batches[3]["input"])


def test_corruption_is_validated_by_key_and_refused_for_part_maps():
    config = configs.default_config()
    config.data.input_type = "joints14"
    config.data.keypoint_corruption.swap_rate = 1.5
    with pytest.raises(ValueError, match=r"config.data.keypoint_corruption.swap_rate: must be "
                                         r"in \[0.0, 1.0\], got 1.5"):
        configs.validate(config)
    config = configs.default_config()
    config.data.keypoint_corruption.jitter = 0.02
    with pytest.raises(ValueError, match="config.data.keypoint_corruption: corrupts the "
                                         "landmarks of joint maps .* not 'parts12'"):
        configs.validate(config)
    experiment = configs.experiments.get_experiment("keypoints_fit")
    assert configs.validate(experiment).data.input_type == "joints14"
    assert Corruption.from_config(experiment).active


def test_batched_joint_maps_equal_numpy_maps_and_skip_undetected_landmarks(split):
    landmarks = split.landmarks_2d[:3].astype(np.float32).copy()
    landmarks[1, 4] = np.nan
    maps = encodings.draw_joint_map_tf(landmarks).numpy()
    for k in range(3):
        np.testing.assert_array_equal(maps[k], encodings.draw_joint_map(landmarks[k]))
    colour = encodings.joint_colours(14)[4]
    assert not np.all(maps[1] == colour, axis=-1).any()
    assert np.all(maps[0] == colour, axis=-1).any()


# --- Serving --------------------------------------------------------------------------------

def test_keypoints_fit_sees_what_training_feeds_the_network(split, joints_run, joints_predictor):
    landmarks = split.landmarks_2d[:2]
    config = configs.default_config()
    config.update_from_flattened_dict({"data.input_type": "joints14", "data.input_size": 32})
    batch = next(iter(data.make_dataset(split, data.FittingInputs.from_config(config),
                                        batch_size=2, shuffle=False)))
    model = predictor_module.load_fitting_run(joints_run)
    expected = model(batch["input"], training=False)
    crop_landmarks = np.concatenate([landmarks * SCALE, np.ones((2, 14, 1))], axis=2)
    result = joints_predictor.keypoints_fit(crop_landmarks)
    np.testing.assert_allclose(result["betas"], expected["betas"], atol=1e-5)
    np.testing.assert_allclose(result["smpl_joints"], expected["smpl_joints"], atol=1e-5)
    for k in range(2):
        np.testing.assert_array_equal(result["joint_map"][k],
                                      encodings.draw_joint_map(landmarks[k]))
    # An unconfident landmark is not drawn.
    crop_landmarks[0, 4, 2] = 0.5 * keypoints.MIN_CONFIDENCE
    thinned = joints_predictor.keypoints_fit(crop_landmarks)["joint_map"][0]
    without = landmarks[0].copy()
    without[4] = np.nan
    np.testing.assert_array_equal(thinned, encodings.draw_joint_map(without))


def test_each_mode_needs_the_run_that_reads_its_input(joints_predictor, eager):
    with pytest.raises(ValueError, match="keypoints_fit needs a fitting run that reads joints14; "
                                         "this one reads parts12: use fit or segment_fit"):
        eager.keypoints_fit(np.ones((1, 14, 3)))
    with pytest.raises(ValueError, match="segment_fit needs a fitting run that reads parts12; "
                                         "this one reads joints14: use keypoints_fit"):
        joints_predictor.segment_fit(np.zeros((1, 512, 512, 3), np.uint8))
    with pytest.raises(ValueError, match=r"landmarks must be \[B, 14, 3\].*got shape \[1, 24, 3\]"):
        joints_predictor.keypoints_fit(np.ones((1, 24, 3)))


def test_the_saved_model_fits_landmarks_as_the_predictor_does(joints_run, joints_predictor,
                                                              split, tmp_path):
    model = predictor_module.load_fitting_run(joints_run)
    path = export.export_saved_model(str(tmp_path / "export"), model)
    saved = serving.Predictor.from_saved_model(path)
    assert saved.input_type == "joints14"
    crop_landmarks = np.concatenate([split.landmarks_2d[:2] * SCALE, np.ones((2, 14, 1))], 2)
    crop_landmarks[1, 3, 2] = 0.0
    eager_result = joints_predictor.keypoints_fit(crop_landmarks, return_vertices=True)
    saved_result = saved.keypoints_fit(crop_landmarks, return_vertices=True)
    for key in ("betas", "pose", "smpl_joints", "vertices", "smpl_joints_2d_original"):
        np.testing.assert_allclose(saved_result[key], eager_result[key], atol=1e-5)
    np.testing.assert_array_equal(saved_result["joint_map"], eager_result["joint_map"])


def test_run_inference_fits_people_from_their_keypoints_and_refuses_boxes(joints_predictor,
                                                                         tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    box = (100, 40, 180, 300)
    cv2.imwrite(str(photos / "a.png"), person_image(360, 320, box)[..., ::-1])
    points = np.zeros((25, 3))
    names = keypoints.BODY25_NAMES
    layout = {"nose": (140, 60), "left_eye": (145, 55), "right_eye": (135, 55),
              "left_ear": (150, 58), "right_ear": (130, 58), "left_shoulder": (160, 90),
              "right_shoulder": (120, 90), "left_elbow": (165, 140), "right_elbow": (115, 140),
              "left_wrist": (168, 185), "right_wrist": (112, 185), "left_hip": (152, 180),
              "right_hip": (128, 180), "left_knee": (154, 240), "right_knee": (126, 240),
              "left_ankle": (155, 295), "right_ankle": (125, 295)}
    for name, (x, y) in layout.items():
        points[names.index(name)] = [x, y, 0.9]
    (tmp_path / "kp").mkdir()
    (tmp_path / "kp" / "a_keypoints.json").write_text(json.dumps(
        {"people": [{"pose_keypoints_2d": points.ravel().tolist()}]}))
    out = str(tmp_path / "out")
    summary = serving.run_inference(joints_predictor, str(photos), out, "keypoints_fit",
                                    people_file=str(tmp_path / "kp"), progress=False)
    assert summary.failed == [] and summary.written == ["a_p0"]
    written = np.load(outputs.person_paths(out, "a_p0")["npz"])
    landmarks14 = keypoints.landmarks14(points, names)
    transform = crops.CropTransform.from_array(written["crop_transform"])
    expected_map = encodings.draw_joint_map(transform.to_crop(landmarks14[:, :2]) / SCALE)
    np.testing.assert_array_equal(written["joint_map"], expected_map)
    parts = cv2.imread(outputs.person_paths(out, "a_p0")["parts"])[..., ::-1]
    np.testing.assert_array_equal(parts, expected_map)  # The gallery shows what was fitted.
    assert "a_p0" in open(summary.gallery, encoding="utf-8").read()
    (tmp_path / "boxes.json").write_text(json.dumps({"a.png": [list(box)]}))
    boxed = serving.run_inference(joints_predictor, str(photos), str(tmp_path / "boxed"),
                                  "keypoints_fit", people_file=str(tmp_path / "boxes.json"),
                                  progress=False)
    assert boxed.written == []
    assert "has a box but no landmarks; keypoints_fit needs keypoints" in dict(
        boxed.failed)["a_p0"]
