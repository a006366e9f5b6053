"""Runs small training jobs of the tiny encoder in a fresh process (used by test_training.py).

    python tests/train_helper.py train DATA MODEL_DIR STEPS SAVE_FREQ [devices] [strategy] [INIT]
    python tests/train_helper.py losses DATA MODEL_DIR STEPS devices strategy[,strategy] [INIT]

Prints 'LOSSES [...]' (per-step losses) and 'WEIGHTS <file>' (final weights .npz), once
per strategy.
INIT: an .npz of initial weights, written by the first run that finds none.
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf


def tiny_config(data, steps, save_freq, strategy):
    from neural_body_fitting import configs

    config = configs.default_config()
    config.runtime.dataset_root = data
    # The mechanics (checkpoints, resuming, strategies) do not depend on the
    # backbone or the size: the tiny encoder at the smallest input builds and
    # steps in a fraction of a second.
    config.model.fitting.encoder_type = "tiny"
    config.runtime.compile_body_model = False  # Its compile would be most of a short run.
    config.data.input_size = 32
    config.optim.batch_size = 4
    config.runtime.max_steps = steps
    config.runtime.save_freq = save_freq
    config.runtime.summary_freq = 1000
    config.runtime.image_summaries = False
    config.runtime.strategy = strategy
    config.optim.lr = 1e-3
    config.loss.terms.joint_locations_posed = ("euclidist", 1.0)
    return config


def train(mode, data, model_dir, steps, save_freq, strategy_name, devices, init):
    from neural_body_fitting import training

    config = tiny_config(data, steps, save_freq, strategy_name)
    strategy = None
    if strategy_name == "mirrored":
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{k}" for k in range(devices)])
    trainer = training.Trainer(config, model_dir, strategy=strategy, progress=False)
    if init:  # Start from shared initial weights (saved by the first run).
        if os.path.exists(init):
            stored = np.load(init)
            trainer.model.set_weights([stored[k] for k in stored.files])
        else:
            np.savez(init, *[v.numpy() for v in trainer.model.weights])
    losses = []

    def record(step, metrics):
        losses.append(metrics["loss"])
        print("STEP", step, flush=True)

    trainer.train(max_steps=steps, on_step=record)
    print("LOSSES", json.dumps(losses), flush=True)
    if mode == "train":
        path = os.path.join(model_dir, f"weights_{os.getpid()}.npz")
        np.savez(path, *[v.numpy() for v in trainer.model.weights])
        print("WEIGHTS", path, flush=True)


def main():
    mode, data, model_dir, steps, save_freq = sys.argv[1:6]
    devices = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    strategies = sys.argv[7].split(",") if len(sys.argv) > 7 else ["default"]
    init = sys.argv[8] if len(sys.argv) > 8 else None
    if devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    tf.config.experimental.enable_op_determinism()
    if os.environ.get("HELPER_FLOAT64"):
        import keras

        keras.config.set_floatx("float64")
    # Several strategies run one after another, each in MODEL_DIR/<strategy>: a layout
    # compared with another needs no second process.
    for strategy_name in strategies:
        run_dir = model_dir if len(strategies) == 1 else os.path.join(model_dir, strategy_name)
        train(mode, data, run_dir, int(steps), int(save_freq), strategy_name, devices, init)


if __name__ == "__main__":
    main()
