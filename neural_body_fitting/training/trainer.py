"""Training either stage: one custom loop under a tf.distribute strategy.

A stage (`config.stage`: `training.fitting` for the fitting network,
`training.segmentation` for the part segmenter) supplies the model, the
input pipeline, the loss terms, the per-step metrics and the image
summaries; everything else is shared. `Trainer` builds the strategy, the
stage's model, Adam (beta1 `config.beta1`) with the
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
- TensorBoard summaries (losses, learning rate, the stage's batch metrics
  and images), a tqdm progress bar and a log file in the model directory.
"""
import os
import signal
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tqdm import tqdm

from neural_body_fitting import configs, losses, registries
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


class Trainer:
    """Owns the model, optimizer, data and checkpoints of one training run.

    What is trained comes from the stage named by `config.stage`
    (`training.fitting.FittingStage`, `training.segmentation.SegmentationStage`):
    its model, input pipeline, loss terms, per-step metrics, image summaries
    and any extra state to checkpoint. Attributes the trainer does not have
    are the stage's (a fitting run's `stats_mean`, the training `split`).
    """

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
        self.stage = registries.TASKS.get(config.stage, "config.stage")(config, model_dir)
        record = runs.read_record(model_dir)
        data_identity = runs.dataset_identity(config.dataset_root, config.train_split)
        self.stage.check_data(data_identity)
        changes = []
        if record is not None:
            changes = runs.check_against_record(record, model_dir, config, self.stage.body_model,
                                                data_identity, allow_changes=allow_run_changes)
        num_samples = self.stage.load_data(record, changes)
        steps_per_epoch = max(num_samples // config.batch_size, 1)
        self.max_steps = config.max_steps or config.max_epochs * steps_per_epoch
        with self.strategy.scope():
            self.model = self.stage.build_model()
            optimizer = keras.optimizers.Adam(learning_rate(config, self.max_steps),
                                              beta_1=config.beta1)
            if config.mixed_precision:
                optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                                  **self.stage.checkpoint_objects())
        self.manager = tf.train.CheckpointManager(self.checkpoint, model_dir,
                                                  max_to_keep=config.keep_checkpoints)
        self.stage.after_restore(self.model,
                                 checkpoints.restore_latest(self.checkpoint, self.manager))
        # Only now, with everything checked, is the run directory written.
        is_new = record is None
        if is_new:
            record = runs.new_record(config, self.stage.body_model, data_identity)
        elif changes:
            logging.warning("Resuming %s with changes:\n  %s", model_dir, "\n  ".join(changes))
            record["history"].append({"time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                      "step": self.step, "changes": changes,
                                      "config": config.to_dict()})
        self.stage.write_run_files()
        if is_new or changes:
            runs.write_record(model_dir, record)
        # The data position is not in the checkpoint (distributed iterators are
        # not checkpointable): the seeded pipeline skips the batches already seen.
        self.dataset = self.stage.make_dataset(self.strategy, self.step)
        self.iterator = iter(self.dataset)
        self.writer = tf.summary.create_file_writer(os.path.join(model_dir, "train"))
        self._train_step = tf.function(self._distributed_step, jit_compile=config.xla)
        self._stop_requested = False

    def __getattr__(self, name):
        stage = self.__dict__.get("stage")
        if stage is None:
            raise AttributeError(name)
        return getattr(stage, name)

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def _replica_step(self, batch):
        config = self.config
        with tf.GradientTape() as tape:
            terms, sums = self.stage.loss_terms(self.model, batch)
            decay = losses.weight_decay(self.model, config.weight_decay) / float(
                self.strategy.num_replicas_in_sync)
            total = tf.add_n(list(terms.values())) + decay
            scaled = self.optimizer.scale_loss(total) if config.mixed_precision else total
        variables = self.model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return {"loss": total, "weight_decay": decay, **terms, **sums}

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
                self.stage.finish_metrics(metrics)
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
            loss_keys = {"loss", "weight_decay", *self.stage.term_names}
            for key, value in metrics.items():
                tf.summary.scalar(f"loss/{key}" if key in loss_keys else f"metrics/{key}", value)
            tf.summary.scalar("learning_rate", float(lr.numpy() if hasattr(lr, "numpy") else lr))
            if self.config.image_summaries:
                local = {key: self.strategy.experimental_local_results(value)[0]
                         for key, value in batch.items()}
                self.stage.image_summaries(self.model, local)
        self.writer.flush()
