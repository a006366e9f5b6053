"""Specifications of the segmentation stage: data, augmentation, loss, metrics, training."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import configs, constants, evaluation, training
from neural_body_fitting.configs import experiments
from neural_body_fitting.data import augment, encodings, layout, segmentation_inputs, synthesis
from neural_body_fitting.evaluation import segmentation_metrics as metrics
from neural_body_fitting.losses import segmentation as segmentation_losses
from neural_body_fitting.training import runs
from neural_body_fitting.training import segmentation as segmentation_stage
from neural_body_fitting.utils import images

SIZE = 64
NO_AUGMENTATION = {"data.augment.flip_probability": 0.0,
                   "data.augment.scale_range": (1.0, 1.0), "data.augment.max_rotation": 0.0}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("segmentation_data"))
    synthesis.generate_dataset(path, {"train": 4, "val": 2}, seed=5, progress=False)
    return path


def run_config(root, changes=None):
    config = configs.default_config()
    config.update_from_flattened_dict({
        "stage": "segmentation", "runtime.dataset_root": root, "data.input_size": SIZE,
        "optim.batch_size": 2, "runtime.max_steps": 2, "runtime.save_freq": 1,
        "runtime.summary_freq": 1000, "optim.lr": 3e-3, "optim.lr_policy": "constant",
        "model.bn_decay": 0.5, "optim.seed": 0, "model.segmenter.network": "deeplab_vgg_16",
        **(changes or {})})
    return config


def labels12(root, sample_id):
    labels24 = images.read_label_map(layout.sample_paths(root, sample_id)["labels"])
    return encodings.part_lookup(12)[labels24]


# --- Metrics -------------------------------------------------------------------------------

def reference_metrics(truth, predicted, num_classes):
    """IoU per class, pixel accuracy and macro F1 from boolean masks, one class at a time."""
    ious, f1s = [], []
    for c in range(num_classes):
        t, p = truth == c, predicted == c
        union = np.logical_or(t, p).sum()
        ious.append(np.logical_and(t, p).sum() / union if union else np.nan)
        if t.any() or p.any():
            tp = np.logical_and(t, p).sum()
            precision = tp / p.sum() if p.sum() else 0.0
            recall = tp / t.sum() if t.sum() else 0.0
            f1s.append(2 * precision * recall / (precision + recall) if tp else 0.0)
    return np.array(ious), float(np.mean(truth == predicted)), float(np.mean(f1s))


def test_metrics_match_a_per_class_numpy_computation():
    rng = np.random.default_rng(0)
    for _ in range(5):
        truth = rng.integers(0, 6, size=(17, 23))  # Classes 6..12 never occur.
        predicted = np.where(rng.random(truth.shape) < 0.6, truth,
                             rng.integers(0, 8, size=truth.shape))
        confusion = metrics.confusion_matrix(truth, predicted, 13)
        ious, accuracy, f1 = reference_metrics(truth, predicted, 13)
        np.testing.assert_allclose(metrics.class_iou(confusion), ious, equal_nan=True)
        assert np.isnan(ious[8:]).all()
        assert metrics.mean_iou(confusion) == pytest.approx(np.nanmean(ious))
        assert metrics.mean_iou(confusion, include_background=False) == pytest.approx(
            np.nanmean(ious[1:]))
        assert metrics.pixel_accuracy(confusion) == pytest.approx(accuracy)
        assert metrics.image_f1(confusion) == pytest.approx(f1)
    # Dataset IoU sums the pixels of all images before dividing.
    a, b = rng.integers(0, 3, size=(2, 8, 8)), rng.integers(0, 3, size=(2, 8, 8))
    summed = metrics.confusion_matrix(a[0], b[0], 3) + metrics.confusion_matrix(a[1], b[1], 3)
    np.testing.assert_allclose(metrics.class_iou(summed), reference_metrics(a, b, 3)[0])
    with pytest.raises(ValueError, match=r"predicted: classes must be in 0..2, got \d..3"):
        metrics.confusion_matrix(a[0], a[0] + 1, 3)


def test_cross_entropy_is_the_mean_negative_log_softmax_of_the_true_class():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 5, 4, 13)).astype(np.float32)
    labels = rng.integers(0, 13, size=(2, 5, 4))
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.take_along_axis(log_softmax, labels[..., None], -1).mean()
    value = segmentation_losses.cross_entropy(tf.constant(logits), tf.constant(labels))
    assert float(value) == pytest.approx(expected, rel=1e-5)


# --- Data and augmentation -------------------------------------------------------------------

def test_the_pipeline_yields_mean_subtracted_images_and_12_part_labels(root):
    loaded = segmentation_inputs.load_segmentation_split(root, "train")
    batch = next(iter(segmentation_inputs.make_segmentation_dataset(
        loaded, 2, input_size=constants.CROP_SIZE, shuffle=False)))
    assert batch["image"].shape == (2, 512, 512, 3) and batch["image"].dtype == tf.float32
    assert batch["labels"].shape == (2, 512, 512) and batch["labels"].dtype == tf.int32
    first = batch["id"][0].numpy().decode()
    rgb = images.read_image(layout.sample_paths(root, first)["image"])
    np.testing.assert_allclose(batch["image"][0], rgb - constants.IMAGENET_MEAN_RGB, atol=1e-3)
    np.testing.assert_array_equal(batch["labels"][0], labels12(root, first))


def test_flipping_twice_is_the_identity_and_a_left_arm_becomes_a_right_arm():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=(16, 20, 3)).astype(np.float32)
    labels = np.zeros((16, 20), np.int32)
    labels[3, 4] = 9  # Left upper arm.
    flip = dict(flip_probability=1.0, scale_range=(1.0, 1.0), max_rotation_degrees=0.0)
    once = augment.augment(tf.constant([0, 1]), image, labels, **flip)
    assert once["labels"][3, 20 - 1 - 4] == 4  # Right upper arm, at the mirrored pixel.
    np.testing.assert_allclose(once["image"][3, 15], image[3, 4], atol=1e-3)
    twice = augment.augment(tf.constant([0, 2]), once["image"], once["labels"], **flip)
    np.testing.assert_allclose(twice["image"], image, atol=1e-3)
    np.testing.assert_array_equal(twice["labels"], labels)


def test_augmented_images_and_labels_stay_aligned_in_the_pipeline(root, tmp_path):
    """Images painted in their own part colours: after resizing and random flips, scales
    and rotations, inside every part the image shows that part's colour (of the
    mirrored part when flipped, as the labels are remapped and colours are not)."""
    painted = str(tmp_path / "painted")
    os.makedirs(os.path.join(painted, "images"))
    os.symlink(os.path.join(root, "labels"), os.path.join(painted, "labels"))
    os.symlink(os.path.join(root, "lists"), os.path.join(painted, "lists"))
    for sample_id, _ in layout.read_split_list(root, "train"):
        images.write_png(layout.sample_paths(painted, sample_id)["image"],
                         constants.PART_COLOURS[labels12(root, sample_id)])
    loaded = segmentation_inputs.load_segmentation_split(painted, "train")
    ranges = segmentation_stage.augmentation_ranges(configs.default_config())
    # 256 px: at smaller sizes few pixels lie well inside a part.
    dataset = segmentation_inputs.make_segmentation_dataset(loaded, 4, input_size=256,
                                                          augmentation=ranges, seed=3)
    mirrored_colours = constants.PART_COLOURS[constants.MIRROR_PARTS].astype(np.float64)
    flipped_samples = 0
    for batch in dataset.take(2):
        rgb = batch["image"].numpy() + constants.IMAGENET_MEAN_RGB
        for image, labels in zip(rgb, batch["labels"].numpy()):
            # Pixels whose 5x5 neighbourhood is one label: bilinear blending cannot reach them.
            padded = np.pad(labels, 2, mode="edge")
            windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5))
            inside = (windows == labels[..., None, None]).all(axis=(2, 3)) & (labels > 0)
            assert inside.sum() > 100
            # Share of those pixels showing their part's colour; not all of them, as
            # the bilinear and nearest resizes treat 1 px details differently.
            matching = {name: np.mean(np.abs(image[inside] - table[labels[inside]]).max(-1) < 1)
                        for name, table in (("plain", constants.PART_COLOURS.astype(np.float64)),
                                            ("flipped", mirrored_colours))}
            assert max(matching.values()) > 0.99, matching
            flipped_samples += matching["flipped"] > matching["plain"]
    assert 0 < flipped_samples < 8  # Both kinds occurred.


def test_skipping_batches_gives_the_same_samples_and_augmentations(root):
    loaded = segmentation_inputs.load_segmentation_split(root, "train")
    ranges = segmentation_stage.augmentation_ranges(configs.default_config())

    def batches(skip):
        dataset = segmentation_inputs.make_segmentation_dataset(
            loaded, 2, input_size=SIZE, augmentation=ranges, skip_batches=skip, seed=4)
        return list(dataset.take(5 - skip))

    straight, resumed = batches(0), batches(3)
    for first, second in zip(straight[3:], resumed):
        np.testing.assert_array_equal(first["id"], second["id"])
        np.testing.assert_array_equal(first["image"], second["image"])
        np.testing.assert_array_equal(first["labels"], second["labels"])


def copy_dataset(root, target):
    """A writable copy of the train list's samples (images and labels)."""
    for folder in ("images", "labels", "lists"):
        os.makedirs(os.path.join(target, folder))
    for sample_id, flag in layout.read_split_list(root, "train"):
        source, destination = (layout.sample_paths(p, sample_id) for p in (root, target))
        for kind in ("image", "labels"):
            with open(source[kind], "rb") as stream:
                data = stream.read()
            with open(destination[kind], "wb") as stream:
                stream.write(data)
    layout.write_split_list(target, "train", layout.read_split_list(root, "train"))
    return target


def test_bad_labels_and_image_sizes_are_refused_naming_the_file(root, tmp_path):
    broken = copy_dataset(root, str(tmp_path / "broken"))
    paths = layout.sample_paths(broken, "train_000001")
    labels = images.read_label_map(paths["labels"])
    labels[7, 9] = 30
    images.write_png(paths["labels"], labels)
    with pytest.raises(ValueError, match=rf"{paths['labels']}: label 30 at pixel \(row 7, "
                                         r"col 9\) is not in 0..24"):
        segmentation_inputs.load_segmentation_split(broken, "train")
    with pytest.raises(ValueError, match=rf"{paths['labels']}: label 30"):
        training.Trainer(run_config(broken), str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()
    images.write_png(paths["labels"], np.minimum(labels, 24))
    small = layout.sample_paths(broken, "train_000002")["image"]
    images.write_png(small, np.zeros((300, 200, 3), np.uint8))
    with pytest.raises(ValueError, match=rf"{small}: 200x300 PNG, expected 512x512"):
        segmentation_inputs.load_segmentation_split(broken, "train")
    loaded = segmentation_inputs.load_segmentation_split(broken, "train", skip_bad_samples=True)
    assert loaded.ids == ["train_000000", "train_000001", "train_000003"]


# --- Configs -------------------------------------------------------------------------------

def test_the_named_segmentation_experiments_have_the_paper_recipe():
    for name, segmenter in (("segmentation_refinenet", "refinenet_resnet_v1_101"),
                            ("segmentation_deeplab_resnet", "deeplab_resnet_v1_101"),
                            ("segmentation_deeplab_vgg", "deeplab_vgg_16")):
        config = configs.validate(experiments.get_experiment(name))
        segmenter_config = config.model.segmenter
        assert (config.stage, segmenter_config.network, segmenter_config.num_classes) == (
            "segmentation", segmenter, 13)
        assert (config.optim.lr, config.optim.lr_policy, config.optim.batch_size,
                config.runtime.max_epochs, config.data.input_size,
                config.loss.weight_decay) == (2e-5, "poly", 5, 20, 512, 1e-4)


@pytest.mark.parametrize("key,value,message", [
    ("stage", "detection", "config.stage: unknown stage 'detection'"),
    ("model.segmenter.network", "unet",
     "config.model.segmenter.network: unknown segmenter 'unet'"),
    ("model.segmenter.num_classes", 12,
     "config.model.segmenter.num_classes must be one more than a granularity"),
    ("data.augment.scale_range", (1.1, 0.9), "config.data.augment.scale_range"),
    ("data.augment.flip_probability", 1.5, "config.data.augment.flip_probability"),
    ("runtime.validation_freq", 10, "config.runtime.validation_freq: held-out validation")])
def test_bad_segmentation_options_are_named(key, value, message):
    config = run_config("")
    config.update_from_flattened_dict({key: value})
    with pytest.raises(ValueError, match=message):
        configs.validate(config)


def test_a_record_from_before_the_stage_keys_still_matches():
    config = configs.default_config()
    recorded = config.to_dict()
    del recorded["stage"], recorded["model"]["segmenter"], recorded["data"]["augment"][
        "scale_range"]
    assert runs.config_differences(recorded, config) == []


# --- Training and evaluation -------------------------------------------------------------------

def test_a_segmentation_run_resumes_records_no_body_model_and_nbf_eval_reports_it(root,
                                                                                  tmp_path):
    run_dir = str(tmp_path / "run")
    # Resuming does not depend on the network or the size.
    small = {"data.input_size": 32, "model.segmenter.network": "tiny"}
    first = training.Trainer(run_config(root, small), run_dir, progress=False)
    assert np.isfinite(first.train()["loss"]) and first.step == 2
    record = runs.read_record(run_dir)
    assert record["body_model"] is None and record["config"]["stage"] == "segmentation"
    second = training.Trainer(run_config(root, {**small, "runtime.max_steps": 3}), run_dir,
                              progress=False)
    assert second.step == 2
    weights = [w.numpy() for w in second.model.weights]
    final = [w.numpy() for w in first.model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(weights, final))
    metrics = second.train()
    assert second.step == 3 and 0.0 <= metrics["pixel_accuracy"] <= 1.0
    with pytest.raises(runs.RunMismatchError, match="config.model.segmenter.network: the run has"):
        training.Trainer(run_config(root, {**small, "model.segmenter.network": "deeplab_vgg_16"}),
                         run_dir, progress=False)
    # The command, with the run's recorded config, reports what the library computes.
    evaluated = evaluation.run_segmentation_evaluation(run_config(root, small), run_dir, "train")
    result = subprocess.run(
        [sys.executable, "-m", "neural_body_fitting.cli.evaluate", f"--model_dir={run_dir}",
         "--split=train"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = json.loads(result.stdout)
    assert printed["mean_iou"] == pytest.approx(evaluated["mean_iou"], abs=1e-6)
    assert printed["num_samples"] == evaluated["num_samples"] == 4


def test_training_beats_the_all_background_baseline(root, tmp_path):
    run_dir = str(tmp_path / "run")
    config = run_config(root, {
        "runtime.max_steps": 25, "runtime.save_freq": 100, "runtime.summary_freq": 20,
        "optim.lr": 2e-3, "model.segmenter.network": "deeplab_resnet_v1_101",
        "runtime.image_summaries": True, **NO_AUGMENTATION})
    training.Trainer(config, run_dir, progress=False).train()
    trained = evaluation.run_segmentation_evaluation(config, run_dir, "train")
    baseline = evaluation.run_segmentation_evaluation(config, run_dir, "train", baseline=True)
    assert baseline["mean_iou_without_background"] == 0.0
    assert trained["mean_iou"] > baseline["mean_iou"] + 0.05
    assert trained["mean_iou_without_background"] > 0.05
    with open(runs.evaluation_path(run_dir, "train", runs.dataset_name(root)) + ".csv") as stream:
        lines = stream.read().splitlines()
    assert lines[0] == "id,pixel_accuracy,mean_iou,f1" and len(lines) == 1 + 4
    # TensorBoard got the input | truth | prediction panels.
    assert os.listdir(os.path.join(run_dir, "train"))


def test_summary_panels_show_input_truth_and_prediction():
    labels = np.zeros((1, 4, 4), np.int32)
    labels[0, 1, 2] = 3
    predicted = np.full((1, 4, 4), 5, np.int32)
    image = np.full((1, 4, 4, 3), 51.0, np.float32) - constants.IMAGENET_MEAN_RGB
    panels = segmentation_stage.summary_panels(tf.constant(image, tf.float32), labels,
                                               predicted, 13).numpy()
    assert panels.shape == (1, 4, 12, 3)
    np.testing.assert_allclose(panels[0, :, :4], 0.2, atol=1e-6)
    np.testing.assert_allclose(panels[0, 1, 4 + 2] * 255, constants.PART_COLOURS[3], atol=1e-3)
    np.testing.assert_allclose(panels[0, 0, 8] * 255, constants.PART_COLOURS[5], atol=1e-3)
