"""Table 2's parts: the segmenter's largest-part baseline, the predicted dataset, the
segmentation run check (the whole command at a tiny budget: tests/test_reproduce.py)."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import constants, evaluation, reproduction
from neural_body_fitting.data import layout
from neural_body_fitting.evaluation import segmentation as segmentation_evaluation
from neural_body_fitting.evaluation import segmentation_metrics as metrics
from neural_body_fitting.utils import images


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


def test_a_segmentation_run_that_is_not_one_is_refused_naming_it(tmp_path):
    with pytest.raises(reproduction.RequestError, match=r"run\.json: not a training run"):
        reproduction.segmentation_run_config(str(tmp_path), str(tmp_path / "data"))
    (tmp_path / "run.json").write_text(json.dumps(
        {"format": 1, "config": {"stage": "fitting"}}))
    with pytest.raises(reproduction.RequestError, match="a fitting run, not a segmentation run"):
        reproduction.segmentation_run_config(str(tmp_path), str(tmp_path / "data"))


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
