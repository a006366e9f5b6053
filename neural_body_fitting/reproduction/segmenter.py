"""Table 2's segmenter: a given segmentation run or one trained with the table's
recipe, evaluated against two baselines, and the predicted part maps it makes."""
import dataclasses
import os
import time

from neural_body_fitting import evaluation, serving
from neural_body_fitting.configs import base, reproduce
from neural_body_fitting.reproduction import budget, cache, datasets, variants
from neural_body_fitting.training import runs

# (segmentation summary key, column title) of Table 2's segmenter table.
SEGMENTATION_METRICS = (("mean_iou", "mean IoU"),
                        ("mean_iou_without_background", "mean IoU without background"),
                        ("pixel_accuracy", "pixel accuracy"), ("mean_f1", "mean F1"))


def segmentation_run_config(run_dir, data_root):
    """The recorded config of the segmentation run in `run_dir`, on the data in `data_root`."""
    try:
        config = runs.load_run_config(run_dir, stage="segmentation")
    except (ValueError, FileNotFoundError) as error:
        raise budget.RequestError(f"--segmentation_run: {error}") from None
    if config.model.segmenter.num_classes != 13:
        raise budget.RequestError(
            f"--segmentation_run: {run_dir} has {config.model.segmenter.num_classes} classes; "
            "Table 2 needs a segmentation run of the 12 parts (13 classes)")
    config.runtime.dataset_root = data_root
    config.runtime.eval_split = "test"
    return config


def latest_checkpoint(run_dir):
    """The file name of the run's latest checkpoint ('ckpt-<step>'), or None."""
    import tensorflow as tf  # Here: TensorFlow must load after the command quietened it.

    path = tf.train.latest_checkpoint(run_dir)
    return os.path.basename(path) if path else None


def train_segmenter(config, run_dir, steps, progress):
    """Trains (or resumes) Table 2's segmenter in `run_dir` to `steps`.

    Returns {'steps_this_call', 'train_seconds'}.
    """
    # The Trainer saves a finished run as ckpt-<steps>; then building it (and
    # RefineNet) only to find nothing to train is skipped.
    if latest_checkpoint(run_dir) == f"ckpt-{steps}":
        return {"steps_this_call": 0, "train_seconds": 0.0}
    trained = variants.train_run(config, run_dir, steps, progress, validate=False)
    return {key: trained[key] for key in ("steps_this_call", "train_seconds")}


def segmenter_result(model, config, run_dir, trained):
    """The segmenter's and the two baselines' summaries on the held-out split."""
    start = time.perf_counter()
    segmentation = evaluation.segmentation
    dataset, _ = evaluation.segmentation_evaluation_dataset(config, "test")
    num_classes = config.model.segmenter.num_classes
    summaries = {
        "network": segmentation.evaluate_segmentation(model, dataset, num_classes)[0],
        "largest_part": evaluation.run_largest_part_baseline(config, "test"),
        "all_background": segmentation.evaluate_segmentation(
            segmentation.background_model(num_classes), dataset, num_classes)[0],
    }
    return {"summaries": summaries, "segmenter": config.model.segmenter.network,
            "input_size": config.data.input_size, "run": os.path.abspath(run_dir), **trained,
            "eval_seconds": time.perf_counter() - start}


def prepare_segmenter(output_dir, segmentation_run, segmenter_budget, progress):
    """Table 2's segmenter and predicted data; returns (its result, whether cached, provenance).

    The segmenter is `segmentation_run`, else the one trained with
    `segmenter_budget`; the provenance (run directory and checkpoint) keys
    its cached evaluation and the predicted dataset.
    """
    directory = os.path.join(output_dir, "table2", "segmenter")
    data_root = datasets.dataset_root(output_dir, 14)
    if segmentation_run:
        run_dir, recipe = segmentation_run, {"segmentation_run": os.path.abspath(segmentation_run)}
        config = segmentation_run_config(run_dir, data_root)
    else:
        run_dir, recipe = os.path.join(directory, "run"), dataclasses.asdict(segmenter_budget)
        config = base.validate(reproduce.segmenter_config(segmenter_budget, data_root))
    budget.record_or_refuse(os.path.join(directory, "budget.json"), recipe)
    trained = ({"steps_this_call": 0, "train_seconds": 0.0} if segmentation_run else
               train_segmenter(config, run_dir, segmenter_budget.steps, progress))
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise budget.RequestError(
            f"--segmentation_run: {run_dir} holds no checkpoint; train it first")
    provenance = {"segmentation_run": os.path.abspath(run_dir), "checkpoint": checkpoint}
    predicted_root = os.path.join(output_dir, datasets.PREDICTED_ROOT)
    data_info = serving.predicted_data.predicted_dataset_info(data_root, provenance)
    model = None
    if not serving.predicted_data.is_up_to_date(predicted_root, data_info):
        model = evaluation.load_segmentation_run_model(config, run_dir)
        start = time.perf_counter()
        serving.write_predicted_dataset(model, data_root, predicted_root, provenance, progress)
        print(f"Predicted the part maps of {predicted_root} in "
              f"{time.perf_counter() - start:.0f} s")

    def evaluate():
        return segmenter_result(model or evaluation.load_segmentation_run_model(config, run_dir),
                                config, run_dir, trained)

    result, was_cached = cache.cached(os.path.join(directory, "result.json"), evaluate,
                                      key=provenance)
    return result, was_cached, provenance
