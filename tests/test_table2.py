"""`nbf-reproduce --table=table2` at a tiny budget, and the segmenter's largest-part baseline."""
import csv
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import constants, evaluation
from neural_body_fitting.cli import reproduce as command
from neural_body_fitting.configs import reproduce
from neural_body_fitting.data import layout
from neural_body_fitting.evaluation import segmentation as segmentation_evaluation
from neural_body_fitting.evaluation import segmentation_metrics as metrics
from neural_body_fitting.serving import handover, predictor
from neural_body_fitting.utils import images

TINY = reproduce.Budget(input_size=32, steps=2, batch_size=4, num_train=8, num_test=3,
                        lr=1e-3, lr_policy="constant")
TINY_SEGMENTER = reproduce.SegmenterBudget(segmenter="deeplab_vgg_16", input_size=32,
                                           batch_size=2, steps=1, lr=1e-3,
                                           lr_policy="constant")


def test_the_largest_part_baseline_fills_the_true_silhouette_with_one_part():
    labels = np.array([[[0, 1, 1],
                        [3, 3, 3],
                        [0, 0, 2]]])
    predicted = segmentation_evaluation.silhouette_prediction(labels, 3)
    np.testing.assert_array_equal(predicted, [[[0, 3, 3], [3, 3, 3], [0, 0, 3]]])
    # Rows: true class 0..3; columns: predicted. The three background pixels stay
    # background; every person pixel becomes part 3, right only for part 3's own.
    expected = np.array([[3, 0, 0, 0],
                         [0, 0, 0, 2],
                         [0, 0, 0, 1],
                         [0, 0, 0, 3]])
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, predicted, 4), expected)
    assert metrics.mean_iou(expected, include_background=False) == pytest.approx(0.5 / 3)

    batches = [{"labels": tf.constant(labels)}, {"labels": tf.constant([[[2, 2, 0]]])}]
    counts = segmentation_evaluation.class_pixel_counts(batches, 4)
    np.testing.assert_array_equal(counts, [4, 2, 3, 3])
    # Background covers most pixels but is not a part; parts 2 and 3 tie: the lower wins.
    assert segmentation_evaluation.largest_part(counts) == 2


def handover_colours(segmenter, image):
    """The hand-over of stage 1's logits for one 512 px crop: 224 px colours [224, 224, 3]."""
    size = segmenter.inputs[0].shape[1]
    centred = tf.cast(image[None], tf.float32) - constants.IMAGENET_MEAN_RGB
    logits = segmenter(tf.image.resize(centred, [size, size]), training=False)
    labels = handover.labels_from_logits(logits, constants.CROP_SIZE)
    return handover.resize_nearest(handover.colour_labels(labels), constants.FIT_SIZE)[0].numpy()


def test_table2_trains_on_both_part_maps_and_a_second_call_trains_nothing(
        tmp_path, monkeypatch, capsys):
    constructed, predicted_writes = [], []
    trainer_class = command.training.Trainer
    write = command.serving.write_predicted_dataset

    def counting_trainer(*args, **kwargs):
        constructed.append(args[1])
        return trainer_class(*args, **kwargs)

    def counting_write(*args, **kwargs):
        predicted_writes.append(args[2])
        return write(*args, **kwargs)

    monkeypatch.setattr(command.training, "Trainer", counting_trainer)
    monkeypatch.setattr(command.serving, "write_predicted_dataset", counting_write)
    output = str(tmp_path)
    first = command.reproduce_table("table2", output, TINY, progress=False,
                                    segmenter_budget=TINY_SEGMENTER)
    assert len(constructed) == 3 and len(predicted_writes) == 1  # Segmenter, gt, predicted.

    for name in ("gt", "predicted", command.BASELINE):
        for data in command.TEST_DATA:
            assert all(math.isfinite(v) for v in first[name]["metrics"][data].values())
    run_files = os.listdir(tmp_path / "table2" / "gt" / "run")
    assert {"eval_test_gt.json", "eval_test_predicted.json"} <= set(run_files)
    markdown = (tmp_path / "table2.md").read_text()
    for name in ("gt", "predicted", command.BASELINE, "network", "largest_part",
                 "all_background"):
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {name} |"))
        assert len(row.split("|")) == 2 + 2 + 4, row  # Two text cells, four numbers.
    with open(tmp_path / "table2.csv", newline="") as stream:
        records = {r["variant"]: r for r in csv.DictReader(stream)}
    assert set(records) == {"gt", "predicted", command.BASELINE}
    for data in command.TEST_DATA:
        for key, _, _ in command.METRICS:
            assert float(records["predicted"][f"{data}_{key}"]) == pytest.approx(
                first["predicted"]["metrics"][data][key], rel=1e-6)
    with open(tmp_path / "table2_segmenter.csv", newline="") as stream:
        segmenter_rows = {r["prediction"]: r for r in csv.DictReader(stream)}
    assert float(segmenter_rows["all_background"]["mean_iou_without_background"]) == 0.0
    assert 0.0 < float(segmenter_rows["largest_part"]["mean_iou_without_background"]) < 1.0
    assert (tmp_path / "table2.png").read_bytes().startswith(b"\x89PNG")

    # The predicted data: the segmenter's maps as inference hands them over, no labels.
    data, predicted = tmp_path / "data", tmp_path / command.PREDICTED_ROOT
    assert not (predicted / "labels").exists()
    info = layout.read_dataset_info(str(predicted))
    assert info["complete"] and info["part_maps"]["checkpoint"] == "ckpt-1"
    assert layout.read_split_list(str(predicted), "test") == layout.read_split_list(
        str(data), "test")
    sample_id = layout.read_split_list(str(data), "test")[0][0]
    segmenter = predictor.load_segmentation_run(str(tmp_path / "table2" / "segmenter" / "run"))
    stored = images.read_image(layout.sample_paths(str(predicted), sample_id)["colours"])
    image = images.read_image(layout.sample_paths(str(data), sample_id)["image"])
    np.testing.assert_array_equal(stored, handover_colours(segmenter, image))

    capsys.readouterr()
    second = command.reproduce_table("table2", output, TINY, progress=False,
                                     segmenter_budget=TINY_SEGMENTER)
    printed = capsys.readouterr().out
    assert len(constructed) == 3 and len(predicted_writes) == 1, "the second call trained"
    assert second == first
    for name in ("segmenter", "gt", "predicted", command.BASELINE):
        assert f"  {name}: cached (" in printed, printed

    with pytest.raises(command.RequestError, match="steps: 1 there, 2 here"):
        command.reproduce_table("table2", output, TINY, progress=False,
                                segmenter_budget=reproduce.SegmenterBudget(
                                    segmenter="deeplab_vgg_16", input_size=32, batch_size=2,
                                    steps=2, lr=1e-3, lr_policy="constant"))


def test_a_segmentation_run_that_is_not_one_is_refused_naming_it(tmp_path):
    with pytest.raises(command.RequestError, match=r"run\.json does not exist"):
        command.segmentation_run_config(str(tmp_path), str(tmp_path / "data"))
    (tmp_path / "run.json").write_text(json.dumps(
        {"format": 1, "config": {"stage": "fitting"}}))
    with pytest.raises(command.RequestError, match="is a fitting run"):
        command.segmentation_run_config(str(tmp_path), str(tmp_path / "data"))


def test_an_interrupted_predicted_dataset_is_marked_incomplete_and_resumed(tmp_path,
                                                                          monkeypatch):
    from neural_body_fitting.data import synthesis
    from neural_body_fitting.serving import predicted_data

    source, target = str(tmp_path / "data"), str(tmp_path / "predicted")
    synthesis.generate_dataset(source, {"train": 2, "test": 1}, seed=1, progress=False)
    segmenter = evaluation.segmentation.background_model(13)  # Predicts background only.
    provenance = {"segmentation_run": "/runs/seg", "checkpoint": "ckpt-7"}
    write_sample, written = predicted_data.write_predicted_sample, []

    def dying_after_one(source_root, target_root, sample_id, colours):
        if written:
            raise KeyboardInterrupt
        written.append(sample_id)
        write_sample(source_root, target_root, sample_id, colours)

    monkeypatch.setattr(predicted_data, "write_predicted_sample", dying_after_one)
    with pytest.raises(KeyboardInterrupt):
        predicted_data.write_predicted_dataset(segmenter, source, target, provenance,
                                               progress=False, batch_size=2)
    with pytest.raises(ValueError, match="incomplete"):
        layout.check_complete(target)
    assert not os.path.exists(layout.list_path(target, "train"))

    def counting(source_root, target_root, sample_id, colours):
        written.append(sample_id)
        write_sample(source_root, target_root, sample_id, colours)

    monkeypatch.setattr(predicted_data, "write_predicted_sample", counting)
    info = predicted_data.write_predicted_dataset(segmenter, source, target, provenance,
                                                  progress=False, batch_size=2)
    assert info["complete"] and info["part_maps"]["checkpoint"] == "ckpt-7"
    assert sorted(written) == ["test_000000", "train_000000", "train_000001"]  # Each once.
    colours = images.read_image(layout.sample_paths(target, "train_000001")["colours"])
    assert np.all(colours == constants.PART_COLOURS[0])
    assert layout.read_split_list(target, "train") == layout.read_split_list(source, "train")
    # Another checkpoint: made afresh.
    written.clear()
    predicted_data.write_predicted_dataset(segmenter, source, target,
                                           {**provenance, "checkpoint": "ckpt-8"},
                                           progress=False)
    assert len(written) == 3
