"""Training-step throughput of NBF's fitting network against a bare ResNet-50.

Both at the same batch and image size, in the same process, steps timed
round-robin (so load from elsewhere affects both alike):

  bare ResNet-50   keras.applications.ResNet50 (no weights), and our slim-style
                   resnet_v1_50 with a 1000-way head (the same encoder as NBF):
                   softmax cross-entropy on random labels, Adam, one
                   tf.function step
  NBF step         `training.Trainer`'s step: our slim-style ResNet-50, dense
                   head, SVD, SMPL, projection, the original's losses and
                   weight decay, fed by the tf.data pipeline (parts12)

Overhead = NBF step time / bare step time - 1 (target: <= 10%); the
comparison with the same encoder isolates what NBF adds (SVD, SMPL,
projection, losses, input pipeline).

Usage: python benchmarks/bench_train.py [--batch_size=5] [--input_size=224] [--steps=20]
"""
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting import (  # noqa: E402
    configs,  # noqa: E402
    networks,
    training,
)
from neural_body_fitting.data import synthesis

BATCH = flags.DEFINE_integer("batch_size", 5, "Batch size of both.")
SIZE = flags.DEFINE_integer("input_size", 224, "Image size of both.")
STEPS = flags.DEFINE_integer("steps", 20, "Timed steps of each.")
XLA = flags.DEFINE_bool("xla", False, "Compile both steps with XLA.")


def classification_model(kind, size):
    """keras.applications' ResNet50, or our slim-style encoder with a 1000-way head."""
    if kind == "keras":
        return keras.applications.ResNet50(weights=None, input_shape=(size, size, 3),
                                           classes=1000)
    encoder = networks.build_encoder("resnet_v1_50", (size, size, 3))
    return keras.Sequential([encoder, keras.layers.Dense(1000, activation="softmax")])


def bare_resnet_step(kind, batch, size, xla):
    model = classification_model(kind, size)
    optimizer = keras.optimizers.Adam(4e-5, beta_1=0.5)
    optimizer.build(model.trainable_variables)
    images = tf.random.uniform([batch, size, size, 3], -1, 1, seed=0)
    labels = tf.random.uniform([batch], 0, 1000, tf.int32, seed=1)

    @tf.function(jit_compile=xla)
    def step():
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(labels, logits))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return lambda: float(step())


def nbf_step(root, batch, size, xla):
    config = configs.default_config()
    config.runtime.dataset_root = root
    config.optim.batch_size = batch
    config.data.input_size = size
    config.runtime.xla = xla
    config.runtime.image_summaries = False
    config.runtime.summary_freq = 10 ** 9
    config.runtime.save_freq = 10 ** 9
    trainer = training.Trainer(config, tempfile.mkdtemp(), progress=False)

    def step():
        numeric = {k: v for k, v in next(trainer.iterator).items() if k not in ("id", "path")}
        return float(trainer._train_step(numeric)["loss"])

    return step


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as root:
        synthesis.generate_dataset(root, {"train": 40}, seed=0, progress=False)
        steps = {
            "bare ResNet-50 (keras.applications)": bare_resnet_step(
                "keras", BATCH.value, SIZE.value, XLA.value),
            "bare ResNet-50 (our slim-style encoder)": bare_resnet_step(
                "slim", BATCH.value, SIZE.value, XLA.value),
            "NBF": nbf_step(root, BATCH.value, SIZE.value, XLA.value)}
        for step in steps.values():
            step(), step()
        times = {name: [] for name in steps}
        for _ in range(STEPS.value):
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - start)
    print(f"# bench_train: batch {BATCH.value}, {SIZE.value}x{SIZE.value}, xla={XLA.value}; "
          f"TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} cores")
    print(f"# command: python benchmarks/bench_train.py --batch_size={BATCH.value} "
          f"--input_size={SIZE.value} --steps={STEPS.value}" + (" --xla" if XLA.value else ""))
    print("| step | median s | steps/s |")
    print("|---|---:|---:|")
    medians = {name: float(np.median(values)) for name, values in times.items()}
    for name, median in medians.items():
        print(f"| {name} | {median:.3f} | {1 / median:.2f} |")
    print()
    for name in list(times)[:2]:
        ratios = np.array(times["NBF"]) / np.array(times[name])
        print(f"NBF overhead over {name}: {100 * (np.median(ratios) - 1):+.1f}% "
              "(median of per-round ratios)")


if __name__ == "__main__":
    app.run(main)
