"""Training either stage: one custom loop under a tf.distribute strategy.

`Trainer(config, model_dir)` does, in this order:

1. builds the strategy (`config.runtime.strategy`; a multi-worker strategy
   must exist before TensorFlow runs any op);
2. `runs.prepare_run`: validates the config, checks it against the run's
   record, loads the training split once and gives the statistics; then the
   process takes ownership of the run directory (`utils.locks`: a second
   process on it is refused, naming this one);
3. makes the stage's task (`registries.TASKS[config.stage]`) from that run;
   in the strategy's scope: `task.build_model()`, Adam (beta1
   `config.optim.beta1`) with the configured learning-rate policy, and a
   checkpoint of model, optimizer (its iteration count is the step) and
   `task.checkpoint_objects()`;
4. restores the latest checkpoint and calls `task.after_restore`;
5. only then writes the run directory (`task.write_run_files()`, the record);
6. builds the input pipelines, `task.build_inputs(input_context, split, ...)`
   per pipeline, positioned after the batches already trained on.

`train(max_steps)` then runs the loop:

- the gradient step is a `tf.function` (XLA with `config.runtime.xla`) of
  `task.loss`; each replica scales its loss by the global number of
  contributing samples, so gradients do not depend on how the batch is split;
- `task.metrics` turns the step's global sums into its metrics;
- `tf.train.CheckpointManager` saves every `save_freq` steps and at the end;
  a new Trainer on the same directory resumes from the latest checkpoint;
- SIGINT and SIGTERM (what schedulers and `docker stop` send) save a
  checkpoint and stop (`stopped_by` names the signal); a failed save names the
  checkpoint and the free space and removes its partial files; a non-finite
  loss stops with an error and keeps the last good checkpoint;
- TensorBoard summaries (losses, learning rate, the task's batch metrics
  and `task.image_summaries`), a tqdm progress bar and a log file.
"""
import functools
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
from neural_body_fitting.utils import locks

# The signals that stop training with a checkpoint instead of killing it.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Adam(keras.optimizers.Adam):
    """Keras' Adam with TF1's fused update, and no all-reduce of a single replica.

    - The update of each variable is one `ResourceApplyAdam` kernel, the one the
      original's `tf.train.AdamOptimizer` ran, with the same formula as Keras'
      (lr·sqrt(1 - β2^t)/(1 - β1^t) · m/(sqrt(v) + ε)). Keras writes it as
      about 25 ops per variable: for ResNet-101's 320 variables a third of the
      training step's 24000 ops, each traced, optimised and run every step.
    - Keras all-reduces gradients in every replica context, also the one of a
      single device, and the all-reduce's tf.custom_gradient keeps each traced
      training step in TensorFlow's global gradient registry: a process that
      builds several trainers (a sweep, a notebook, the tests) kept every one
      of them, hundreds of MB each with a ResNet.
    """

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        if self.amsgrad:
            super()._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)
            return
        # The scalars once a step per dtype and device, not ~10 ops per variable. Under
        # several replicas `learning_rate` is per replica: `update` passes each device its own.
        scalars = {}

        def scalars_of(dtype, device, learning_rate):
            if (dtype, device) not in scalars:
                step = tf.cast(self.iterations + 1, dtype)
                beta_1, beta_2 = tf.constant(self.beta_1, dtype), tf.constant(self.beta_2, dtype)
                scalars[dtype, device] = {
                    "lr": tf.cast(learning_rate, dtype), "beta1": beta_1, "beta2": beta_2,
                    "beta1_power": tf.pow(beta_1, step), "beta2_power": tf.pow(beta_2, step),
                    "epsilon": tf.constant(self.epsilon, dtype)}
            return scalars[dtype, device]

        def apply_adam(variable, gradient, learning_rate):
            dtype = variable.dtype
            index = self._get_variable_index(variable)
            return tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=self._momentums[index].value.handle,
                v=self._velocities[index].value.handle,
                grad=tf.cast(tf.convert_to_tensor(gradient), dtype),
                **scalars_of(dtype, variable.device, learning_rate))

        for gradient, variable in grads_and_vars:
            distribution.extended.update(variable, apply_adam, args=(gradient, learning_rate),
                                         group=False)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if self._distribution_strategy.num_replicas_in_sync == 1:
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)


def default_strategy():
    """One device."""
    return tf.distribute.get_strategy()


def mirrored_strategy():
    """All visible GPUs, or the CPU."""
    return tf.distribute.MirroredStrategy()


def multi_worker_strategy():
    """Several machines, each described by TF_CONFIG."""
    return tf.distribute.MultiWorkerMirroredStrategy()


def build_strategy(name):
    """The strategy registered as `name` (`registries.STRATEGIES`)."""
    return registries.STRATEGIES.get(name, "config.runtime.strategy")()


def learning_rate(config, max_steps):
    """The configured schedule: poly (power 0.9 to 0 over all steps), step or constant."""
    if config.optim.lr_policy == "poly":
        return keras.optimizers.schedules.PolynomialDecay(config.optim.lr, max(max_steps, 1), 0.0,
                                                          power=config.optim.lr_power)
    if config.optim.lr_policy == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            config.optim.lr, config.optim.lr_step_size, config.optim.lr_gamma, staircase=True)
    return config.optim.lr


def distributed_inputs(strategy, build_inputs, global_batch_size, skip_steps=0):
    """Per-replica batches of `global_batch_size` in all, each input pipeline its own shard.

    `build_inputs(input_context, batch_size=..., skip_batches=...)` makes one
    pipeline's dataset; the first `skip_steps` training steps' batches are
    skipped (to resume).
    """
    def dataset_fn(input_context):
        batch = input_context.get_per_replica_batch_size(global_batch_size)
        # Each step takes one batch per replica that this pipeline feeds.
        per_step = input_context.num_replicas_in_sync // input_context.num_input_pipelines
        return build_inputs(input_context, batch_size=batch,
                            skip_batches=skip_steps * per_step)

    return strategy.distribute_datasets_from_function(dataset_fn)


class Trainer:
    """Owns the model, optimizer, data and checkpoints of one training run (see the module).

    Attributes: `config`, `model_dir`, `run` (`runs.Run`), `task`, `strategy`,
    `model`, `optimizer`, `manager` (the checkpoints), `max_steps`, `stopped_by`
    (the name of the signal that stopped `train`, or None).
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
        self.strategy = strategy or build_strategy(config.runtime.strategy)
        self.run = runs.prepare_run(config, model_dir, allow_changes=allow_run_changes)
        self.ownership = locks.own_directory(model_dir)
        self.task = registries.TASKS.get(config.stage)(self.run)
        steps_per_epoch = max(len(self.run.split.ids) // config.optim.batch_size, 1)
        self.max_steps = (config.runtime.max_steps
                          or config.runtime.max_epochs * steps_per_epoch)
        # Which record the checkpoints are trained for (`runs.record_digest`); a
        # string, so made outside the strategy's scope, where variables are mirrored.
        self.record_digest = tf.Variable("", trainable=False, name="run_record")
        with self.strategy.scope():
            self.model = self.task.build_model()
            optimizer = Adam(learning_rate(config, self.max_steps), beta_1=config.optim.beta1)
            if config.optim.mixed_precision:
                optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
            optimizer.build(self.model.trainable_variables)
            self.optimizer = optimizer
            self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                                  run_record=self.record_digest,
                                                  **self.task.checkpoint_objects())
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, model_dir, max_to_keep=config.runtime.keep_checkpoints,
            checkpoint_name=checkpoints.CHECKPOINT_NAME)
        self.task.after_restore(self.model,
                                checkpoints.restore_latest(self.checkpoint, self.manager))
        self._write_run()
        self.record_digest.assign(runs.record_digest(runs.read_record(model_dir)))
        self.dataset = self._distributed_inputs()
        self.iterator = iter(self.dataset)
        self.writer = tf.summary.create_file_writer(os.path.join(model_dir, "train"))
        # No autograph: the step has no Python control flow on tensors, and
        # converting its code took a third of a small run's start-up.
        self._train_step = tf.function(self._distributed_step, jit_compile=config.runtime.xla,
                                       autograph=False)
        self.stopped_by = None

    def _write_run(self):
        """Only now, with everything checked, is the run directory written.

        A new run gets its record; a resumed one gets a history entry for
        the changes allowed (also those assumed for checkpoints without a
        record, which then get one) and when its record is migrated.
        """
        run = self.run
        self.task.write_run_files()
        if run.record is None and not run.changes:
            runs.write_record(self.model_dir, runs.new_record(self.config, run.body_model,
                                                              run.data_identity))
            return
        if not (run.changes or run.record.get("migrated_from_format")):
            return
        if run.changes:
            logging.warning("Resuming %s with changes:\n  %s", self.model_dir,
                            "\n  ".join(run.changes))
        else:
            logging.info("Resuming %s: its record is rewritten in format %d",
                         self.model_dir, runs.FORMAT)
        record = run.record or runs.new_record(self.config, run.body_model, run.data_identity)
        runs.write_record(self.model_dir, {**record, "history": record["history"] + [{
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "step": self.step,
            "changes": run.changes, "config": self.config.to_dict()}]})

    def _distributed_inputs(self):
        # The data position is not in the checkpoint (distributed iterators are
        # not checkpointable): the seeded pipelines skip the batches already seen.
        return distributed_inputs(
            self.strategy, functools.partial(self.task.build_inputs, split=self.run.split),
            self.config.optim.batch_size, skip_steps=self.step)

    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    def _replica_step(self, batch):
        config = self.config
        with tf.GradientTape() as tape:
            terms, sums = self.task.loss(self.model, batch)
            decay = losses.weight_decay(self.model, config.loss.weight_decay) / float(
                self.strategy.num_replicas_in_sync)
            total = tf.add_n(list(terms.values())) + decay
            scaled = self.optimizer.scale_loss(total) if config.optim.mixed_precision else total
        variables = self.model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return {"loss": total, "weight_decay": decay, **terms}, sums

    def _distributed_step(self, batch):
        """({'loss', 'weight_decay', term: value}, the task's sums), summed over the replicas."""
        per_replica = self.strategy.run(self._replica_step, args=(batch,))
        return tf.nest.map_structure(
            lambda value: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None),
            per_replica)

    def _request_stop(self, signum, frame):
        del frame
        self.stopped_by = signal.Signals(signum).name

    def save(self):
        """Saves the checkpoint of this step (once: a second save would rewrite it)."""
        latest = self.manager.latest_checkpoint
        if latest and latest.endswith(f"-{self.step}"):
            return latest
        return checkpoints.save(self.manager, self.step)

    def train(self, max_steps=None, max_seconds=None, on_step=None):
        """Trains until `max_steps` (default: the config's); returns the last metrics.

        `on_step(step, metrics)`, if given, is called after every step.
        """
        max_steps = max_steps or self.max_steps
        config = self.config
        self.stopped_by = None
        previous = {signum: signal.signal(signum, self._request_stop) for signum in STOP_SIGNALS}
        metrics = {}
        start = time.perf_counter()
        bar = tqdm(total=max_steps, initial=self.step, desc="train", disable=not self.progress)
        try:
            while self.step < max_steps:
                batch = next(self.iterator)
                # Strings (ids, paths) stay outside the step, which XLA may compile.
                numeric = {k: v for k, v in batch.items() if k not in ("id", "path")}
                step_losses, sums = tf.nest.map_structure(float, self._train_step(numeric))
                metrics = {**step_losses, **self.task.metrics(sums)}
                if not np.isfinite(metrics["loss"]):
                    raise FloatingPointError(
                        f"training stopped: the loss became non-finite at step {self.step} "
                        f"({metrics}); the last good checkpoint is kept: "
                        f"{self.manager.latest_checkpoint}")
                step = self.step
                if on_step is not None:
                    on_step(step, metrics)
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4f}")
                if step % config.runtime.summary_freq == 0 or step == max_steps:
                    self._summaries(step, metrics, batch)
                    logging.info("step %d: %s", step, metrics)
                if step % config.runtime.save_freq == 0:
                    self.save()
                if self.stopped_by:
                    logging.warning("%s received: saving at step %d and stopping",
                                    self.stopped_by, step)
                    break
                if max_seconds and time.perf_counter() - start > max_seconds:
                    break
            self.save()
        finally:
            bar.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return metrics

    def _summaries(self, step, metrics, batch):
        lr = self.optimizer.learning_rate
        with self.writer.as_default(step=step):
            loss_keys = {"loss", "weight_decay", *self.task.term_names}
            for key, value in metrics.items():
                tf.summary.scalar(f"loss/{key}" if key in loss_keys else f"metrics/{key}", value)
            tf.summary.scalar("learning_rate", float(lr.numpy() if hasattr(lr, "numpy") else lr))
            if self.config.runtime.image_summaries:
                local = {key: self.strategy.experimental_local_results(value)[0]
                         for key, value in batch.items()}
                self.task.image_summaries(self.model, local)
        self.writer.flush()
