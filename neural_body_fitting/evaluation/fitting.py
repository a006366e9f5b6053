"""Evaluation of the fitting network with the original's metrics.

Per sample (SMPL joints are recomputed from the ground-truth parameters with
the body model, so any landmark set works):

  err_joints3D   mean Euclidean distance of the 24 SMPL joints (mm)
  recon_err      the same after a per-frame similarity Procrustes alignment (mm)
  pckh           fraction of 2D landmarks within half the head size (neck to
                 head top, or SMPL neck to head for 24 joints)
  err_quat       mean over joints of the quaternion distance acos(2<q, q'>² - 1)
                 between predicted and true rotations (radians)

`evaluate` writes `<output>.npz` and `<output>.csv` with one row per sample
and `<output>.json` with the summary, all three or none: a non-finite
prediction or metric stops the evaluation naming the sample before anything
is written, so the JSON is always valid and the files are one evaluation's
and returns the summary (means, reconstruction median) and the ids at the
error quartiles (the examples the paper's Figure 4 shows).
"""
import csv
import dataclasses
import io
import json
import os

import numpy as np
import tensorflow as tf

from neural_body_fitting import configs, constants, data, networks
from neural_body_fitting.body import smpl
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import statistics
from neural_body_fitting.evaluation import metrics
from neural_body_fitting.training import checkpoints, runs
from neural_body_fitting.training import fitting as training_fitting
from neural_body_fitting.utils import files

METRICS = ("err_joints3D", "recon_err", "pckh", "err_quat")


def prediction_function(model, config):
    """`model` at test time on an input batch, as one tf.function: traced once, used often."""
    @tf.function(autograph=False)
    def predict(batch):
        translation = batch["translation"] if config.model.fitting.use_gt_translation else None
        return model(batch["input"], translation=translation, training=False)

    return predict


def truth_layer_for(model, config):
    """The SMPL layer that poses the ground truth of `model`'s evaluations."""
    return smpl.SMPL(model.smpl.body_model, jit_compile=config.runtime.compile_body_model)


def evaluate(model, dataset, num_samples, config, output=None, truth_layer=None, predict=None):
    """Runs `model` over `dataset` (unshuffled batches) and computes the metrics.

    Args:
      model: an NBFModel (or anything returning its outputs).
      dataset: batches from `data.make_dataset(..., shuffle=False, repeat=False)`.
      num_samples: number of samples to use (the split's size).
      config: the experiment config (use_gt_translation, num_landmarks, use_absrot).
      output: path prefix for the .npz and .csv files, or None.
      truth_layer: `truth_layer_for(model, config)` (made here if None; callers
        evaluating repeatedly pass one).
      predict: `prediction_function(model, config)` (made here if None; callers
        evaluating repeatedly pass one, or every call traces the model again).
    Returns:
      (summary dict, per-sample dict of arrays).
    """
    if truth_layer is None:
        truth_layer = truth_layer_for(model, config)
    head = constants.LANDMARK14_HEAD if config.data.num_landmarks == 14 else (12, 15)
    rows = {key: [] for key in ("id", *METRICS)}
    predictions = {"betas": [], "rotations": [], "smpl_joints": []}
    predict = predict or prediction_function(model, config)
    for batch in dataset:
        outputs = {key: value.numpy() for key, value in predict(batch).items()}
        truth = truth_layer(batch["betas"], batch["pose"], batch["translation"],
                            return_vertices=False)
        true_smpl_joints = truth["joints"].numpy()
        true_rot = (truth["absolute_rotations"] if config.model.fitting.use_absrot
                    else truth["relative_rotations"]).numpy()
        for k, sample_id in enumerate(batch["id"].numpy()):
            _check_finite(sample_id.decode(), outputs, k)
            values = metrics.sample_metrics(outputs["smpl_joints"][k], true_smpl_joints[k],
                                    outputs["landmarks_2d"][k],
                                    batch["landmarks_2d"].numpy()[k],
                                    outputs["rotations"][k], true_rot[k], head)
            rows["id"].append(sample_id.decode())
            _check_finite_metrics(sample_id.decode(), values)
            for key in METRICS:
                rows[key].append(values[key])
            for key in predictions:
                predictions[key].append(outputs[key][k])
        if len(rows["id"]) >= num_samples:
            break
    per_sample = {key: np.array(values) for key, values in rows.items()}
    summary = {f"mean_{key}": float(per_sample[key].mean()) for key in METRICS}
    summary["median_recon_err"] = float(np.median(per_sample["recon_err"]))
    summary["num_samples"] = len(rows["id"])
    summary["quartiles_err_joints3D"] = metrics.quartile_ids(per_sample["id"],
                                                             per_sample["err_joints3D"])
    if output:
        files.atomic_write_all(_result_files(output, per_sample, predictions, summary))
    return summary, per_sample


def _result_files(output, per_sample, predictions, summary):
    """{path: payload} of an evaluation's .npz, .csv and .json, all made before any is written."""
    buffer = io.BytesIO()
    np.savez(buffer, **per_sample, **{f"pred_{k}": np.array(v) for k, v in predictions.items()})
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", *METRICS])
    for k, sample_id in enumerate(per_sample["id"]):
        writer.writerow([sample_id] + [f"{per_sample[m][k]:.6f}" for m in METRICS])
    return {f"{output}.npz": buffer.getvalue(), f"{output}.csv": text.getvalue(),
            f"{output}.json": json.dumps(summary, indent=2, allow_nan=False)}


def _check_finite_metrics(sample_id, values):
    """FloatingPointError naming the sample if a metric overflowed (finite but huge outputs)."""
    for key in METRICS:
        if not np.isfinite(values[key]):
            raise FloatingPointError(
                f"sample '{sample_id}': its {key} is {values[key]} (the network's outputs are "
                "finite but too large to measure); the run's weights or inputs are broken")


def _check_finite(sample_id, outputs, index):
    """FloatingPointError naming the sample if the network's output is not finite."""
    for key in ("betas", "rotations", "smpl_joints", "landmarks_2d"):
        if not np.all(np.isfinite(outputs[key][index])):
            raise FloatingPointError(f"sample '{sample_id}': the network predicted non-finite "
                                     f"'{key}'; the run's weights or inputs are broken")


def load_run_model(config, model_dir, baseline=False, allow_run_changes=False):
    """(model, statistics mean [229]): the run's network with its latest weights.

    The config must agree with the run's record (`training.runs`) on every
    option that defines the network's outputs, unless `allow_run_changes`.
    With `baseline` the head is zeroed instead, so the model predicts the latent mean.
    """
    config = configs.validate(config)
    body_model = resolve_body_model(config.model.body_model or None)
    runs.check_run_for_model(model_dir, config, body_model, allow_run_changes)
    prefix = (training_fitting.configured_statistics_prefix(config)
              or training_fitting.statistics_prefix(model_dir))
    stats_mean, _ = statistics.load_latent_statistics(
        prefix, "latent statistics (train first, or set config.model.fitting.latent_stats)")
    model = networks.build_fitting_model(config, stats_mean, body_model)
    if baseline:
        for variable in (model.head.kernel, model.head.bias):
            variable.assign(tf.zeros_like(variable))
    else:
        latest = tf.train.latest_checkpoint(model_dir)
        if latest is None:
            raise FileNotFoundError(f"{model_dir}: no checkpoint to evaluate")
        checkpoints.restore(tf.train.Checkpoint(model=model), latest).expect_partial()
    return model, stats_mean


def run_evaluation(config, model_dir, split, baseline=False, output=True,
                   allow_run_changes=False, corruption=None):
    """Evaluates the run in `model_dir` on `split` of `config.runtime.dataset_root`; returns
    the summary.

    Writes `<model_dir>/eval_<split>_<dataset>[_baseline].{npz,csv,json}`, the dataset
    named by its folder (`runs.dataset_name`). `corruption`: a
    `data.keypoint_noise.KeypointCorruption` to evaluate a joint-map run on
    detector-like landmarks instead of exact ones (its files get the level's tag).
    """
    name = runs.dataset_name(config.runtime.dataset_root)
    return run_evaluations(config, model_dir, split, {name: config.runtime.dataset_root},
                           baseline, output, allow_run_changes, corruption)[name]


def run_evaluations(config, model_dir, split, roots, baseline=False, output=True,
                    allow_run_changes=False, corruption=None):
    """Evaluates the run on `split` of each dataset of `roots` ({name: root}), loading it once.

    Returns {name: summary}; writes `<model_dir>/eval_<split>_<name>[_baseline].*`.
    """
    model, stats_mean = load_run_model(config, model_dir, baseline, allow_run_changes)
    truth_layer = truth_layer_for(model, config)
    predict = prediction_function(model, config)
    summaries = {}
    for name, root in roots.items():
        on_root = config.copy_and_resolve_references()
        on_root.runtime.dataset_root = root
        runs.check_data_matches_model(runs.dataset_identity(root, split),
                                      model.smpl.body_model, config.data.num_landmarks)
        dataset, num_samples = evaluation_dataset(on_root, split, stats_mean,
                                                  corruption=corruption)
        summaries[name] = evaluate(model, dataset, num_samples, config,
                                   runs.evaluation_path(model_dir, split, name, baseline,
                                                        corruption.tag if corruption else "")
                                   if output else None,
                                   truth_layer, predict)[0]
    return summaries


def evaluation_dataset(config, split, stats_mean, cache=False, corruption=None):
    """(unshuffled batches of `split`, its number of samples) for `evaluate`; `corruption`
    (a `KeypointCorruption`) corrupts the landmarks of joint maps, seeded by the config."""
    loaded = data.load_split(config.runtime.dataset_root, split, config.data.input_type,
                             config.runtime.skip_bad_samples, config.data.num_landmarks)
    inputs = dataclasses.replace(data.FittingInputs.from_config(config, stats_mean), cache=cache,
                                 corruption=corruption)
    dataset = data.make_dataset(loaded, inputs, batch_size=config.optim.batch_size,
                                shuffle=False, repeat=False, drop_remainder=False)
    return dataset, len(loaded.ids)


class Validator:
    """Held-out metrics during training: an `on_step` callback for `Trainer.train`.

    Every `config.runtime.validation_freq` steps it evaluates the trainer's model on
    `config.runtime.eval_split` (batch-norm moving statistics, as at test time) and
    writes TensorBoard scalars under `validation/` and a row of
    `<model_dir>/validation.csv` (step and the summary's means), from which the
    commands plot learning curves.
    """

    COLUMNS = ("step", *(f"mean_{key}" for key in METRICS), "median_recon_err")

    def __init__(self, trainer):
        self.trainer = trainer
        config = trainer.config
        self.frequency = config.runtime.validation_freq
        self.dataset, self.num_samples = evaluation_dataset(
            config, config.runtime.eval_split, trainer.run.statistics[0], cache=True)
        # Built once: a new SMPL layer or tf.function per validation would be traced again.
        self.truth_layer = truth_layer_for(trainer.model, config)
        self.predict = prediction_function(trainer.model, config)
        self.path = os.path.join(trainer.model_dir, "validation.csv")
        self.writer = tf.summary.create_file_writer(
            os.path.join(trainer.model_dir, "validation"))

    def __call__(self, step, metrics):
        del metrics
        if not self.frequency or step % self.frequency:
            return None
        summary = evaluate(self.trainer.model, self.dataset, self.num_samples,
                           self.trainer.config, truth_layer=self.truth_layer,
                           predict=self.predict)[0]
        with self.writer.as_default(step=step):
            for key in self.COLUMNS[1:]:
                tf.summary.scalar(f"validation/{key}", summary[key])
        self.writer.flush()
        # Rows from after `step` belong to an earlier, interrupted attempt.
        rows = [row for row in read_validation_csv(self.path) if row["step"] < step]
        rows.append({"step": step, **{key: summary[key] for key in self.COLUMNS[1:]}})
        text = io.StringIO()
        writer = csv.DictWriter(text, self.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        files.atomic_write(self.path, text.getvalue())
        return summary


def read_validation_csv(path):
    """Rows of a validation.csv as dicts of numbers ([] if there is none)."""
    if not os.path.isfile(path):
        return []
    with open(path, newline="") as stream:
        return [{key: (int(value) if key == "step" else float(value))
                 for key, value in row.items()} for row in csv.DictReader(stream)]
