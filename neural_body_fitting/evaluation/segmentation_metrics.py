"""Segmentation metrics in NumPy: confusion matrices, IoU, pixel accuracy, F1.

Definitions (C classes, class 0 the background):

  confusion[t, p]   number of pixels of true class t predicted as p
  IoU of class c    TP / (TP + FP + FN) = confusion[c, c] / (row c + column c - confusion[c, c]);
                    undefined (NaN) for a class in neither map
  mean IoU          mean of the defined IoUs; "without background" leaves out class 0
  pixel accuracy    correctly classified pixels / all pixels
  F1 of an image    the mean over the classes present in the true or the predicted
                    map (background included) of 2 TP / (2 TP + FP + FN)

Dataset-level IoU comes from the confusion matrix summed over all images
(not from per-image IoUs), so large and small parts count by their pixels.
"""
import numpy as np


def confusion_matrix(truth, predicted, num_classes):
    """int64 [C, C] of two class maps of the same shape (values in 0..C - 1)."""
    truth = np.asarray(truth, np.int64).reshape(-1)
    predicted = np.asarray(predicted, np.int64).reshape(-1)
    if truth.shape != predicted.shape:
        raise ValueError(f"class maps differ in size: {truth.size} and {predicted.size} pixels")
    for name, values in (("truth", truth), ("predicted", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name}: classes must be in 0..{num_classes - 1}, got "
                             f"{values.min()}..{values.max()}")
    counts = np.bincount(truth * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def class_iou(confusion):
    """[C] IoU of every class; NaN where the class is in neither map."""
    confusion = np.asarray(confusion, np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - hits
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, hits / union, np.nan)


def mean_iou(confusion, include_background=True):
    """Mean of the defined class IoUs (NaN if none is defined)."""
    ious = class_iou(confusion)
    ious = ious if include_background else ious[1:]
    defined = ious[~np.isnan(ious)]
    return float(defined.mean()) if defined.size else float("nan")


def pixel_accuracy(confusion):
    confusion = np.asarray(confusion)
    return float(np.trace(confusion) / max(confusion.sum(), 1))


def image_f1(confusion):
    """Macro F1 over the classes present in the true or predicted map of one image."""
    confusion = np.asarray(confusion, np.float64)
    hits = np.diag(confusion)
    # 2 TP + FP + FN: each class's true pixels plus its predicted pixels.
    denominator = confusion.sum(0) + confusion.sum(1)
    present = denominator > 0
    return float(np.mean(2 * hits[present] / denominator[present]))
