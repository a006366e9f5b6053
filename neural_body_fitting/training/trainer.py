"""Training the fitting network: a custom loop under a tf.distribute strategy.

`Trainer` builds the strategy, the model, Adam (beta1 0.5) with the
configured learning-rate policy, a checkpoint of model and optimizer (its
iteration count is the step) and the input pipeline (positioned after the
batches already trained on), then runs `train(max_steps)`:

- the gradient step is a `tf.function` (XLA with `config.xla`); each replica
  scales its loss by the global number of contributing samples, so gradients
  do not depend on how the batch is split;
- `tf.train.CheckpointManager` saves every `save_freq` steps and at the end;
  a new Trainer on the same directory resumes from the latest checkpoint;
- SIGINT saves a checkpoint and stops; a non-finite loss stops with an error
  and keeps the last good checkpoint;
- TensorBoard summaries (losses, learning rate, the batch's 3D joint error,
  input and joint images), a tqdm progress bar and a log file in the model
  directory.
"""
import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tqdm import tqdm

from neural_body_fitting import configs, data, losses, networks
from neural_body_fitting.body import layouts
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import encodings, statistics
from neural_body_fitting.training import checkpoints, runs


def build_strategy(name):
    """'default' (one device), 'mirrored' (all visible GPUs, or CPU), 'multi_worker' (TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"config.strategy: unknown '{name}'")


def learning_rate(config, max_steps):
    """The configured schedule: poly (power 0.9 to 0 over all steps), step or constant."""
    if config.lr_policy == "poly":
        return keras.optimizers.schedules.PolynomialDecay(config.lr, max(max_steps, 1), 0.0,
                                                          power=config.lr_power)
    if config.lr_policy == "step":
        return keras.optimizers.schedules.ExponentialDecay(config.lr, config.lr_step_size,
                                                           config.lr_gamma, staircase=True)
    return config.lr


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


class Trainer:
    """Owns the model, optimizer, data and checkpoints of one training run."""

    def __init__(self, config, model_dir, strategy=None, progress=True, allow_run_changes=False):
        """Validates everything, then creates or resumes the run in `model_dir`.

        Nothing in an existing run is written before the command has been
        checked against the run's record (`training.runs`); `allow_run_changes`
        accepts a different config, body model or training data (fine-tuning)
        and records the changes.
        """
        self.config = configs.validate(config)
        self.model_dir = model_dir
        self.progress = progress
        # First: a multi-worker strategy must exist before TensorFlow runs any op.
        self.strategy = strategy or build_strategy(config.strategy)
        body_model = resolve_body_model(config.body_model or None)
        record = runs.read_record(model_dir)
        data_identity = runs.dataset_identity(config.dataset_root, config.train_split)
        runs.check_data_matches_model(data_identity, body_model, config.num_landmarks)
        changes = []
        if record is not None:
            changes = runs.check_against_record(record, model_dir, config, body_model,
                                                data_identity, allow_changes=allow_run_changes)
        self.split = data.load_split(config.dataset_root, config.train_split, config.input_type,
                                     config.skip_bad_samples, config.num_landmarks)
        # A resumed run keeps the statistics its latent was trained against,
        # unless a deliberate change names new ones.
        new_statistics = record is None or bool(changes and config.latent_stats)
        if new_statistics:
            self.stats_mean, self.stats_std = latent_statistics(config, self.split)
        else:
            self.stats_mean, self.stats_std = statistics.load_latent_statistics(
                self._statistics_prefix, f"the run's latent statistics "
                f"({runs.record_path(model_dir)})")
        rotation_mode = "absolute" if config.use_absrot else "relative"
        self.latent_std = tf.constant(
            layouts.latent_from_statistics(self.stats_std, config.latent_components))
        steps_per_epoch = max(len(self.split.ids) // config.batch_size, 1)
        self.max_steps = config.max_steps or config.max_epochs * steps_per_epoch
        with self.strategy.scope():
            self.model = networks.build_fitting_model(config, self.stats_mean, body_model)
            optimizer = keras.optimizers.Adam(learning_rate(config, self.max_steps),
                                              beta_1=config.beta1)
            if config.mixed_precision:
                optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.statistics = LatentStatistics(self.stats_mean, self.stats_std)
            self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                                  latent_statistics=self.statistics)
        self.manager = tf.train.CheckpointManager(self.checkpoint, model_dir,
                                                  max_to_keep=config.keep_checkpoints)
        self._restore(check_statistics=not new_statistics)
        # Only now, with everything checked, is the run directory written.
        if record is None:
            record = runs.new_record(config, body_model, data_identity)
        elif changes:
            logging.warning("Resuming %s with changes:\n  %s", model_dir, "\n  ".join(changes))
            record["history"].append({"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                      "step": self.step, "changes": changes,
                                      "config": config.to_dict()})
        if new_statistics:
            statistics.save_latent_statistics(self._statistics_prefix, self.stats_mean,
                                              self.stats_std)
        if new_statistics or changes:
            runs.write_record(model_dir, record)
        # The data position is not in the checkpoint (distributed iterators are
        # not checkpointable): the seeded pipeline skips the batches already seen.
        self.dataset = data.make_distributed_dataset(
            self.strategy, config.batch_size, config.dataset_root, config.train_split,
            skip_steps=self.step, input_type=config.input_type, rotation_mode=rotation_mode,
            latent_mean=self.stats_mean, latent_components=config.latent_components,
            seed=config.seed, cache=config.cache_inputs, input_size=config.input_size,
            num_landmarks=config.num_landmarks)
        self.iterator = iter(self.dataset)
        self.writer = tf.summary.create_file_writer(os.path.join(model_dir, "train"))
        self._train_step = tf.function(self._distributed_step, jit_compile=config.xla)
        self._stop_requested = False

    @property
    def _statistics_prefix(self):
        return os.path.join(self.model_dir, "latent_stats")

    def _restore(self, check_statistics):
        """Restores the newest readable checkpoint, then sets the run's statistics.

        With `check_statistics` the statistics inside the checkpoint must be
        those beside it; otherwise (new statistics) they replace the restored
        ones, in the checkpoint's variables and in the model's latent mean.
        """
        path = checkpoints.restore_latest(self.checkpoint, self.manager)
        if path and check_statistics and not np.array_equal(self.statistics.mean.numpy(),
                                                           self.stats_mean):
            raise ValueError(
                f"{path}: the latent statistics inside the checkpoint differ from "
                f"{self._statistics_prefix}_mean.npy; the run directory was changed outside "
                "the library")
        self.statistics.mean.assign(self.stats_mean)
        self.statistics.std.assign(self.stats_std)
        self.model.latent_mean.assign(
            layouts.latent_from_statistics(self.stats_mean, self.config.latent_components))

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def _replica_step(self, batch):
        config = self.config
        translation = batch["translation"] if config.use_gt_translation else None
        with tf.GradientTape() as tape:
            outputs = self.model(batch["input"], translation=translation, training=True)
            terms = losses.loss_terms_values(dict(config.loss_terms), outputs, batch,
                                             self.latent_std)
            decay = losses.weight_decay(self.model, config.weight_decay) / float(
                self.strategy.num_replicas_in_sync)
            total = tf.add_n(list(terms.values())) + decay
            scaled = self.optimizer.scale_loss(total) if config.mixed_precision else total
        variables = self.model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        joints = outputs["joints"]
        joint_error = tf.reduce_sum(tf.norm(joints - tf.cast(batch["joints"], joints.dtype),
                                            axis=-1))
        count = tf.cast(tf.size(batch["joints"]) // 3, joints.dtype)
        return {"loss": total, "weight_decay": decay, **terms,
                "joint_error_sum": joint_error, "joint_count": count}

    def _distributed_step(self, batch):
        per_replica = self.strategy.run(self._replica_step, args=(batch,))
        return {key: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for key, value in per_replica.items()}

    def _request_stop(self, signum, frame):
        del signum, frame
        self._stop_requested = True

    def save(self):
        return self.manager.save(checkpoint_number=self.step)

    def train(self, max_steps=None, max_seconds=None, on_step=None):
        """Trains until `max_steps` (default: the config's); returns the last metrics.

        `on_step(step, metrics)`, if given, is called after every step.
        """
        max_steps = max_steps or self.max_steps
        config = self.config
        previous = signal.signal(signal.SIGINT, self._request_stop)
        metrics = {}
        start = time.perf_counter()
        bar = tqdm(total=max_steps, initial=self.step, desc="train", disable=not self.progress)
        try:
            while self.step < max_steps:
                batch = next(self.iterator)
                # Strings (ids, paths) stay outside the step, which XLA may compile.
                numeric = {k: v for k, v in batch.items() if k not in ("id", "path")}
                metrics = {key: float(value) for key, value in self._train_step(numeric).items()}
                if not np.isfinite(metrics["loss"]):
                    raise FloatingPointError(
                        f"training stopped: the loss became non-finite at step {self.step} "
                        f"({metrics}); the last good checkpoint is kept: "
                        f"{self.manager.latest_checkpoint}")
                metrics["joint_error_mm"] = 1000 * metrics.pop("joint_error_sum") / max(
                    metrics.pop("joint_count"), 1.0)
                step = self.step
                if on_step is not None:
                    on_step(step, metrics)
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}")
                if step % config.summary_freq == 0 or step == max_steps:
                    self._summaries(step, metrics, batch)
                    logging.info("step %d: %s", step, metrics)
                if step % config.save_freq == 0:
                    self.save()
                if self._stop_requested:
                    logging.info("Interrupted: saving at step %d", step)
                    break
                if max_seconds and time.perf_counter() - start > max_seconds:
                    break
            self.save()
        finally:
            bar.close()
            signal.signal(signal.SIGINT, previous)
        return metrics

    def _summaries(self, step, metrics, batch):
        lr = self.optimizer.learning_rate
        with self.writer.as_default(step=step):
            for key, value in metrics.items():
                tf.summary.scalar(f"loss/{key}" if key in losses.TERMS or key in (
                    "loss", "weight_decay") else f"metrics/{key}", value)
            tf.summary.scalar("learning_rate", float(lr.numpy() if hasattr(lr, "numpy") else lr))
            if self.config.image_summaries:
                inputs = self.strategy.experimental_local_results(batch["input"])[0]
                joints = self.strategy.experimental_local_results(batch["joints_2d"])[0]
                tf.summary.image("input", (inputs[:3] + 1.0) / 2.0, max_outputs=3)
                maps = [encodings.draw_joint_map(j.numpy()) for j in joints[:3]]
                tf.summary.image("joints_2d", np.stack(maps).astype(np.float32) / 255.0,
                                 max_outputs=3)
        self.writer.flush()
