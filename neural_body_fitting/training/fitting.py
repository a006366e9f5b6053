"""The fitting task (stage 2) for the shared training loop (`training.trainer`).

Besides model and data, a fitting run owns latent statistics: the mean and
std of the training split's parameter records, which centre and scale the
latent. They are computed (or read from `config.model.fitting.latent_stats`) when the run
starts, kept beside the checkpoints (`latent_stats_{mean,std}.npy`) and
inside them, and a resumed run keeps them unless a deliberate change names
new ones.
"""
import os

import numpy as np
import tensorflow as tf

from neural_body_fitting import data, losses, networks, registries
from neural_body_fitting.body import parameter_records
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import encodings, statistics
from neural_body_fitting.training import runs


def latent_statistics(config, split):
    """(mean [229], std [229]) float64 from config.model.fitting.latent_stats, or computed from
    `split`.

    `latent_stats` is a prefix of `<prefix>_mean.npy` / `<prefix>_std.npy`
    and may name the dataset as `{dataset_root}`; empty computes the statistics
    of the training split.
    """
    prefix = configured_statistics_prefix(config)
    if prefix:
        return statistics.load_latent_statistics(prefix, "config.model.fitting.latent_stats")
    return data.latent_statistics(
        split, parameter_records.rotation_mode(config.model.fitting.use_absrot))


def configured_statistics_prefix(config):
    """`config.model.fitting.latent_stats` with `{dataset_root}` filled in; "" for none."""
    return config.model.fitting.latent_stats.format(dataset_root=config.runtime.dataset_root)


def statistics_prefix(model_dir):
    """Where a fitting run keeps its latent statistics: `<prefix>_{mean,std}.npy`."""
    return os.path.join(model_dir, "latent_stats")


class LatentStatistics(tf.Module):
    """The run's latent statistics as checkpointed variables, so a checkpoint is complete."""

    def __init__(self, mean, std):
        super().__init__(name="latent_statistics")
        self.mean = tf.Variable(mean, dtype=tf.float64, trainable=False, name="mean")
        self.std = tf.Variable(std, dtype=tf.float64, trainable=False, name="std")


class FittingTask:
    """The fitting network's model, inputs, loss and metrics for `Trainer` (`registries.TASKS`).

    The static methods read a run (`runs.prepare_run`); the task is then made
    from the prepared `runs.Run`.
    """

    def __init__(self, run):
        self.run = run
        self.config = run.config
        self.term_names = tuple(self.config.loss.terms)
        self.stats_mean, self.stats_std = run.statistics
        # Training inputs: with the config's keypoint corruption, if any.
        self.inputs = data.FittingInputs.from_config(self.config, self.stats_mean, corrupt=True)
        self.latent_std = tf.constant(parameter_records.latent_from_statistics(
            self.stats_std, self.config.model.fitting.latent_components))
        # Loaded now: importing inside the traced step would go through AutoGraph.
        for kind, _ in self.config.loss.terms.values():
            registries.LOSS_KINDS.get(losses.terms.split_kind(kind)[0])

    @staticmethod
    def resolve_body_model(config):
        return resolve_body_model(config.model.body_model or None)

    @staticmethod
    def load_split(config):
        return data.load_split(config.runtime.dataset_root, config.runtime.train_split,
                               config.data.input_type, config.runtime.skip_bad_samples,
                               config.data.num_landmarks)

    @staticmethod
    def run_statistics(config, split, model_dir, record, changes):
        """((mean, std), whether they are new): a resumed run keeps the statistics its latent
        was trained against, unless a deliberate change names new ones."""
        if record is None or bool(changes and config.model.fitting.latent_stats):
            return latent_statistics(config, split), True
        return statistics.load_latent_statistics(
            statistics_prefix(model_dir),
            f"the run's latent statistics ({runs.record_path(model_dir)})"), False

    def build_model(self):
        return networks.build_fitting_model(self.config, self.stats_mean, self.run.body_model)

    def checkpoint_objects(self):
        """What the checkpoint holds besides model and optimizer (made in the strategy scope)."""
        self.statistics = LatentStatistics(self.stats_mean, self.stats_std)
        return {"latent_statistics": self.statistics}

    def after_restore(self, model, path):
        """Sets the run's statistics once the checkpoint at `path` (or None) is restored.

        A resumed run's checkpoint must hold the statistics beside it; new
        statistics replace the restored ones, in the checkpoint's variables
        and in the model's latent mean.
        """
        prefix = statistics_prefix(self.run.model_dir)
        if path and not self.run.new_statistics and not np.array_equal(
                self.statistics.mean.numpy(), self.stats_mean):
            raise ValueError(
                f"{path}: the latent statistics inside the checkpoint differ from "
                f"{prefix}_mean.npy; the run directory was changed outside the library")
        self.statistics.mean.assign(self.stats_mean)
        self.statistics.std.assign(self.stats_std)
        model.latent_mean.assign(parameter_records.latent_from_statistics(
            self.stats_mean, self.config.model.fitting.latent_components))

    def write_run_files(self):
        if self.run.new_statistics:
            statistics.save_latent_statistics(statistics_prefix(self.run.model_dir),
                                              self.stats_mean, self.stats_std)

    def build_inputs(self, input_context, split, batch_size, skip_batches):
        """One input pipeline's batches of `split` (its shard of the samples)."""
        return data.make_dataset(split, self.inputs, batch_size, seed=self.config.optim.seed,
                                 input_context=input_context, skip_batches=skip_batches)

    def loss(self, model, batch):
        """({term: loss}, {name: sum over the replica's samples}) of one replica's batch."""
        config = self.config
        translation = (batch["translation"] if config.model.fitting.use_gt_translation
                       else None)
        outputs = model(batch["input"], translation=translation, training=True)
        terms = losses.loss_terms_values(dict(config.loss.terms), outputs, batch,
                                         self.latent_std)
        landmarks = outputs["landmarks"]
        joint_error = tf.reduce_sum(tf.norm(
            landmarks - tf.cast(batch["landmarks"], landmarks.dtype), axis=-1))
        count = tf.cast(tf.size(batch["landmarks"]) // 3, landmarks.dtype)
        return terms, {"joint_error_sum": joint_error, "joint_count": count}

    @staticmethod
    def metrics(sums):
        """The batch's mean joint error (mm) from the global sums of `loss`."""
        return {"joint_error_mm": 1000 * sums["joint_error_sum"] / max(sums["joint_count"], 1.0)}

    @staticmethod
    def image_summaries(model, batch):
        """TensorBoard images of the first replica's batch: inputs and 2D joint maps."""
        del model
        inputs, landmarks_2d = batch["input"], batch["landmarks_2d"]
        tf.summary.image("input", (inputs[:3] + 1.0) / 2.0, max_outputs=3)
        maps = [encodings.draw_joint_map(points.numpy()) for points in landmarks_2d[:3]]
        tf.summary.image("landmarks_2d", np.stack(maps).astype(np.float32) / 255.0, max_outputs=3)
