"""The fitting stage (stage 2) for the shared training loop (`training.trainer`).

Besides model and data, a fitting run owns latent statistics: the mean and
std of the training split's parameter records, which centre and scale the
latent. They are computed (or read from `config.latent_stats`) when the run
starts, kept beside the checkpoints (`latent_stats_{mean,std}.npy`) and
inside them, and a resumed run keeps them unless a deliberate change names
new ones.
"""
import os

import numpy as np
import tensorflow as tf

from neural_body_fitting import data, losses, networks
from neural_body_fitting.body import parameter_records
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import encodings, statistics
from neural_body_fitting.training import runs


def latent_statistics(config, split):
    """(mean [229], std [229]) float64 from config.latent_stats, or computed from `split`.

    `config.latent_stats` is a prefix of `<prefix>_mean.npy` / `<prefix>_std.npy`
    and may name the dataset as `{dataset_root}`; empty computes the statistics
    of the training split.
    """
    if config.latent_stats:
        return statistics.load_latent_statistics(
            config.latent_stats.format(dataset_root=config.dataset_root), "config.latent_stats")
    return data.latent_statistics(split, "absolute" if config.use_absrot else "relative")


class LatentStatistics(tf.Module):
    """The run's latent statistics as checkpointed variables, so a checkpoint is complete."""

    def __init__(self, mean, std):
        super().__init__(name="latent_statistics")
        self.mean = tf.Variable(mean, dtype=tf.float64, trainable=False, name="mean")
        self.std = tf.Variable(std, dtype=tf.float64, trainable=False, name="std")


class FittingStage:
    """Model, data, losses and summaries of the fitting network for `Trainer`."""

    def __init__(self, config, model_dir):
        self.config = config
        self.model_dir = model_dir
        self.body_model = resolve_body_model(config.body_model or None)
        self.rotation_mode = "absolute" if config.use_absrot else "relative"
        self.term_names = tuple(config.loss_terms)

    def check_data(self, data_identity):
        runs.check_data_matches_model(data_identity, self.body_model, self.config.num_landmarks)

    def load_data(self, record, changes):
        """Reads the training split and sets the statistics; returns the number of samples."""
        config = self.config
        self.split = data.load_split(config.dataset_root, config.train_split, config.input_type,
                                     config.skip_bad_samples, config.num_landmarks)
        # A resumed run keeps the statistics its latent was trained against,
        # unless a deliberate change names new ones.
        self.new_statistics = record is None or bool(changes and config.latent_stats)
        if self.new_statistics:
            self.stats_mean, self.stats_std = latent_statistics(config, self.split)
        else:
            self.stats_mean, self.stats_std = statistics.load_latent_statistics(
                self._statistics_prefix, f"the run's latent statistics "
                f"({runs.record_path(self.model_dir)})")
        self.latent_std = tf.constant(
            parameter_records.latent_from_statistics(self.stats_std, config.latent_components))
        return len(self.split.ids)

    @property
    def _statistics_prefix(self):
        return os.path.join(self.model_dir, "latent_stats")

    def build_model(self):
        return networks.build_fitting_model(self.config, self.stats_mean, self.body_model)

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
        if path and not self.new_statistics and not np.array_equal(
                self.statistics.mean.numpy(), self.stats_mean):
            raise ValueError(
                f"{path}: the latent statistics inside the checkpoint differ from "
                f"{self._statistics_prefix}_mean.npy; the run directory was changed outside "
                "the library")
        self.statistics.mean.assign(self.stats_mean)
        self.statistics.std.assign(self.stats_std)
        model.latent_mean.assign(
            parameter_records.latent_from_statistics(self.stats_mean,
                                                     self.config.latent_components))

    def write_run_files(self):
        if self.new_statistics:
            statistics.save_latent_statistics(self._statistics_prefix, self.stats_mean,
                                              self.stats_std)

    def make_dataset(self, strategy, skip_steps):
        config = self.config
        return data.make_distributed_dataset(
            strategy, config.batch_size, config.dataset_root, config.train_split,
            skip_steps=skip_steps, input_type=config.input_type,
            rotation_mode=self.rotation_mode, latent_mean=self.stats_mean,
            latent_components=config.latent_components, seed=config.seed,
            cache=config.cache_inputs, input_size=config.input_size,
            num_landmarks=config.num_landmarks)

    def loss_terms(self, model, batch):
        """({term: loss}, {name: sum over the replica's samples}) of one replica's batch."""
        config = self.config
        translation = batch["translation"] if config.use_gt_translation else None
        outputs = model(batch["input"], translation=translation, training=True)
        terms = losses.loss_terms_values(dict(config.loss_terms), outputs, batch,
                                         self.latent_std)
        landmarks = outputs["landmarks"]
        joint_error = tf.reduce_sum(tf.norm(
            landmarks - tf.cast(batch["landmarks"], landmarks.dtype), axis=-1))
        count = tf.cast(tf.size(batch["landmarks"]) // 3, landmarks.dtype)
        return terms, {"joint_error_sum": joint_error, "joint_count": count}

    @staticmethod
    def finish_metrics(metrics):
        """Turns the global sums of `loss_terms` into the batch's mean joint error (mm)."""
        metrics["joint_error_mm"] = 1000 * metrics.pop("joint_error_sum") / max(
            metrics.pop("joint_count"), 1.0)

    @staticmethod
    def image_summaries(model, batch):
        """TensorBoard images of the first replica's batch: inputs and 2D joint maps."""
        del model
        inputs, landmarks_2d = batch["input"], batch["landmarks_2d"]
        tf.summary.image("input", (inputs[:3] + 1.0) / 2.0, max_outputs=3)
        maps = [encodings.draw_joint_map(points.numpy()) for points in landmarks_2d[:3]]
        tf.summary.image("landmarks_2d", np.stack(maps).astype(np.float32) / 255.0, max_outputs=3)
