"""Tiny runs and models for the inference tests (nothing is trained)."""
import os

import keras
import numpy as np
import tensorflow as tf

from neural_body_fitting import configs, constants, networks
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import statistics
from neural_body_fitting.training import runs

INPUT_SIZE = 32


def untrained_fitting_run(run_dir, seed=0, input_type="parts12"):
    """A fitting run directory as training leaves it: run.json, latent statistics and a
    checkpoint of random weights (tiny encoder, 32 px input, synthetic body model): what
    inference does with a run does not depend on the backbone."""
    config = configs.default_config()
    config.update_from_flattened_dict({"model.fitting.encoder_type": "tiny",
                                       "data.input_size": INPUT_SIZE, "optim.seed": seed,
                                       "model.body_model": "synthetic",
                                       "data.input_type": input_type})
    rng = np.random.default_rng(seed)
    # The mean of real statistics: betas near 0, identity-ish rotations, the fixed translation.
    mean = np.concatenate([rng.normal(scale=0.1, size=10),
                           np.tile(np.eye(3).ravel(), 24) + rng.normal(scale=0.05, size=216),
                           constants.FIXED_TRANSLATION])
    statistics.save_latent_statistics(os.path.join(run_dir, "latent_stats"), mean,
                                      np.ones(229))
    model = networks.build_fitting_model(config, mean)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), run_dir, 1).save()
    identity = {"root": "", "split": "train", "fingerprint": "", "num_landmarks": 14,
                "body_model": "synthetic"}
    runs.write_record(run_dir, runs.new_record(config, resolve_body_model("synthetic"),
                                               identity))
    return run_dir


def tiny_segmenter(size=32, seed=0):
    """A stand-in with stage 1's contract: float [B, S, S, 3] (minus the ImageNet mean)
    -> logits [B, S, S, 13]. Colour decides the label, so the output is not constant."""
    inputs = keras.Input((size, size, 3))
    hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                                 kernel_initializer=keras.initializers.GlorotNormal(seed))(
        inputs / 64.0)
    logits = keras.layers.Conv2D(13, 1, kernel_initializer=keras.initializers.GlorotNormal(
        seed + 1))(hidden)
    return keras.Model(inputs, logits)


def person_image(height, width, box, seed=0):
    """uint8 RGB [height, width, 3]: noise with a bright person-sized rectangle at `box`."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    image[y0:y1, x0:x1] = (230, 180, 140)
    return image

