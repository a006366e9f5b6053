"""Evaluation of a trained part segmenter (stage 1) on a split.

The segmenter's logits at the input size are turned into classes by argmax
and compared with the ground truth (`data.segmentation_inputs`, no augmentation)
with the metrics of `evaluation.segmentation_metrics`. `evaluate_segmentation`
writes, like the fitting evaluation, `<output>.csv` with one row per sample
(id, pixel_accuracy, mean_iou and f1 of that image) and `<output>.json` with
the summary:

  num_samples
  pixel_accuracy                 over all pixels of the split
  mean_iou                       from the split's summed confusion matrix
  mean_iou_without_background    the same over the parts only
  iou_per_class                  [C], null for a class in no map
  mean_f1                        mean over the images of their macro F1

Two baselines a segmenter has to beat: all background (`background_model`),
and the largest part (`run_largest_part_baseline`): the true silhouette
filled with the part that covers most pixels of the training split, which
finds the person perfectly but separates no parts.
"""
import csv
import io
import json

import numpy as np
import tensorflow as tf

from neural_body_fitting import configs
from neural_body_fitting.data import segmentation_inputs
from neural_body_fitting.evaluation import segmentation_metrics as metrics
from neural_body_fitting.networks import segmentation as segmenters
from neural_body_fitting.training import checkpoints, runs
from neural_body_fitting.utils import files

SAMPLE_METRICS = ("pixel_accuracy", "mean_iou", "f1")


def evaluate_segmentation(model, dataset, num_classes, output=None):
    """Runs `model` over `dataset` and computes the metrics; returns (summary, rows).

    Args:
      model: images [B, S, S, 3] (minus the ImageNet mean) -> logits [B, S, S, C].
      dataset: unaugmented batches of `data.segmentation.make_segmentation_dataset`.
      num_classes: C.
      output: path prefix of the .csv and .json files, or None.
    """
    return evaluate_predictions(network_predictions(model), dataset, num_classes, output)


def network_predictions(model):
    """batch -> (classes int32 [B, S, S], finite bool [B]): the argmax of `model`'s logits."""

    @tf.function(autograph=False)
    def predict(images):
        logits = tf.cast(model(images, training=False), tf.float32)
        finite = tf.reduce_all(tf.math.is_finite(logits), axis=[1, 2, 3])
        return tf.argmax(logits, axis=-1, output_type=tf.int32), finite

    return lambda batch: tuple(value.numpy() for value in predict(batch["image"]))


def evaluate_predictions(predict, dataset, num_classes, output=None):
    """The metrics of `predict` (batch -> (classes [B, S, S], finite [B])) on `dataset`.

    Returns (summary, rows) and writes them as `evaluate_segmentation` does.
    """
    total = np.zeros((num_classes, num_classes), np.int64)
    rows = []
    for batch in dataset:
        predicted, finite = predict(batch)
        for k, sample_id in enumerate(batch["id"].numpy()):
            sample_id = sample_id.decode()
            if not finite[k]:
                raise FloatingPointError(f"sample '{sample_id}': the network predicted "
                                         "non-finite logits; the run's weights or inputs are "
                                         "broken")
            confusion = metrics.confusion_matrix(batch["labels"][k].numpy(), predicted[k],
                                                 num_classes)
            total += confusion
            rows.append({"id": sample_id, "pixel_accuracy": metrics.pixel_accuracy(confusion),
                         "mean_iou": metrics.mean_iou(confusion),
                         "f1": metrics.image_f1(confusion)})
    if not rows:
        raise ValueError("evaluate_segmentation: the dataset is empty")
    ious = metrics.class_iou(total)
    summary = {
        "num_samples": len(rows), "pixel_accuracy": metrics.pixel_accuracy(total),
        "mean_iou": metrics.mean_iou(total),
        "mean_iou_without_background": metrics.mean_iou(total, include_background=False),
        "iou_per_class": [None if np.isnan(value) else float(value) for value in ious],
        "mean_f1": float(np.mean([row["f1"] for row in rows])),
    }
    if output:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["id", *SAMPLE_METRICS])
        for row in rows:
            writer.writerow([row["id"]] + [f"{row[key]:.6f}" for key in SAMPLE_METRICS])
        files.atomic_write_all({f"{output}.csv": text.getvalue(),
                                f"{output}.json": json.dumps(summary, indent=2, allow_nan=False)})
    return summary, rows


def background_model(num_classes):
    """A stand-in segmenter that predicts background everywhere (the baseline)."""

    def predict(images, training=False):
        del training
        return tf.one_hot(tf.zeros(tf.shape(images)[:3], tf.int32), num_classes)

    return predict


def class_pixel_counts(dataset, num_classes):
    """[C] int64: pixels of each class in the label maps of `dataset`'s batches."""
    counts = np.zeros(num_classes, np.int64)
    for batch in dataset:
        counts += np.bincount(batch["labels"].numpy().reshape(-1), minlength=num_classes)
    return counts


def largest_part(counts):
    """The foreground class (1..C - 1) with the most pixels in `counts` [C]; ties: the lowest."""
    return 1 + int(np.argmax(counts[1:]))


def silhouette_prediction(labels, part):
    """Labels [B, S, S] -> [B, S, S] int32: `part` on the true silhouette, background elsewhere."""
    labels = np.asarray(labels)
    return np.where(labels > 0, part, 0).astype(np.int32)


def largest_part_predictions(part):
    """batch -> (classes, finite): the true silhouette filled with `part` (a baseline).

    It finds the person perfectly and separates no parts, so a segmenter has to
    beat it on the parts, not only on where the person is.
    """
    return lambda batch: (silhouette_prediction(batch["labels"].numpy(), part),
                          np.ones(len(batch["labels"]), bool))


def run_largest_part_baseline(config, split, train_split="train", output=None):
    """The largest-part baseline on `split` of `config.runtime.dataset_root`; returns the summary.

    The part is the foreground class covering most pixels of `train_split`
    (at `config.data.input_size`, as the network sees them); the summary adds it
    as `largest_part`.
    """
    training_data, _ = segmentation_evaluation_dataset(config, train_split)
    part = largest_part(class_pixel_counts(training_data, config.model.segmenter.num_classes))
    dataset, _ = segmentation_evaluation_dataset(config, split)
    summary, _ = evaluate_predictions(largest_part_predictions(part), dataset,
                                      config.model.segmenter.num_classes, output)
    return {**summary, "largest_part": part}


def load_segmentation_run_model(config, model_dir, allow_run_changes=False):
    """The run's segmenter with its latest weights.

    The config must agree with the run's record on every option that defines
    the network's outputs (`runs.defines_network`), unless `allow_run_changes`.
    """
    config = configs.validate(config)
    runs.check_run_for_model(model_dir, config, None, allow_run_changes)
    model = segmenters.build_segmenter(config)
    latest = tf.train.latest_checkpoint(model_dir)
    if latest is None:
        raise FileNotFoundError(f"{model_dir}: no checkpoint to evaluate")
    checkpoints.restore(tf.train.Checkpoint(model=model), latest).expect_partial()
    return model


def segmentation_evaluation_dataset(config, split):
    """(unshuffled, unaugmented batches of `split`, its number of samples)."""
    loaded = segmentation_inputs.load_segmentation_split(config.runtime.dataset_root, split,
                                                       config.runtime.skip_bad_samples)
    dataset = segmentation_inputs.make_segmentation_dataset(
        loaded, config.optim.batch_size, input_size=config.data.input_size,
        num_classes=config.model.segmenter.num_classes, shuffle=False, repeat=False,
        drop_remainder=False)
    return dataset, len(loaded.ids)


def run_segmentation_evaluation(config, model_dir, split, baseline=False, output=True,
                                allow_run_changes=False):
    """Evaluates the segmentation run in `model_dir` on `split`; returns the summary.

    Writes `<model_dir>/eval_<split>_<dataset>[_baseline].{csv,json}` (`runs.evaluation_path`);
    with `baseline` an all-background prediction is evaluated instead of the network.
    """
    model = load_segmentation_run_model(config, model_dir, allow_run_changes)
    if baseline:
        model = background_model(config.model.segmenter.num_classes)
    dataset, _ = segmentation_evaluation_dataset(config, split)
    prefix = runs.evaluation_path(model_dir, split, runs.dataset_name(config.runtime.dataset_root),
                                  baseline)
    return evaluate_segmentation(model, dataset, config.model.segmenter.num_classes,
                                 prefix if output else None)[0]
