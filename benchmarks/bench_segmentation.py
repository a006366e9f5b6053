"""Inference cost of the three stage-1 segmenters (forward pass, batch-norm statistics frozen).

For each segmenter, in a fresh subprocess (so that one network's memory does
not count towards the next):

  time      milliseconds per image of `model(images, training=False)` at each
            batch size, called eagerly, through `tf.function`, and through
            `tf.function(jit_compile=True)` (XLA); the median of `--rounds`
            calls after one warm-up call (which also compiles)
  FLOPs     counted from the layer shapes: 2 x the multiply-accumulates of every
            convolution (k * k * C_in * C_out per output pixel; dilation does
            not change it); pooling, batch norm, additions and resizes are
            left out
  memory    the subprocess's peak resident set size (`resource.getrusage`
            ru_maxrss), and its growth over the RSS before the network was
            built; `tf.config.experimental.get_memory_info` only reports on
            GPUs
  training  `training.Trainer`'s step (the paper's recipe: batch 5, Adam,
            cross-entropy, weight decay) fed by the real input pipeline
            (512 px PNGs decoded, augmented, resized to --train_input_size)
            against the same compiled step on one constant in-memory batch,
            alternated step by step in one process so that load from
            elsewhere affects both alike; overhead = median of the per-round
            ratios - 1 (target <= 10%). A smaller network input than 512 px
            makes the pipeline's share larger, not smaller: its decoding and
            augmentation work at 512 px whatever the network's size.

Usage: python benchmarks/bench_segmentation.py [--segmenters=a,b] [--batch_sizes=1,4]
           [--rounds=5] [--input_size=512] [--train_input_size=256] [--train_steps=4]
"""
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

SEGMENTERS = ("refinenet_resnet_v1_101", "deeplab_resnet_v1_101", "deeplab_vgg_16")
MODES = ("eager", "tf.function", "XLA")

SEGMENTER_NAMES = flags.DEFINE_list("segmenters", list(SEGMENTERS), "Segmenters to measure.")
BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "4"], "Batch sizes to time.")
ROUNDS = flags.DEFINE_integer("rounds", 5, "Timed calls per segmenter, mode and batch size.")
SIZE = flags.DEFINE_integer("input_size", 512, "Image size (the original's is 512).")
TRAIN_SIZE = flags.DEFINE_integer("train_input_size", 256,
                                  "Network input of the training-step measurement (0: skip it).")
TRAIN_STEPS = flags.DEFINE_integer("train_steps", 4, "Timed training steps of each kind.")
CHILD = flags.DEFINE_string("child", None, "Internal: measure this segmenter, print JSON.")
DATA = flags.DEFINE_string("data", None, "Internal: the synthetic dataset of the training step.")
TRAIN_SAMPLES = 20


def conv_flops(model):
    """2 x multiply-accumulates of the Conv2D layers of a functional `model`, per image."""
    import keras

    macs = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            macs += height * width * math.prod(layer.kernel.shape)
    return 2 * macs


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB.


def measure(segmenter, batch_sizes, rounds, size):
    """{'params', 'flops', 'rss_before', 'rss_peak', 'ms_per_image': {mode: {batch: ms}}}."""
    import tensorflow as tf

    from neural_body_fitting.networks import segmentation

    rss_before = peak_rss_bytes()
    model = segmentation.build_segmentation_model(segmenter, size, seed=0)
    calls = {
        "eager": lambda x: model(x, training=False),
        "tf.function": tf.function(lambda x: model(x, training=False)),
        "XLA": tf.function(lambda x: model(x, training=False), jit_compile=True),
    }
    timings = {mode: {} for mode in MODES}
    for batch in batch_sizes:
        images = tf.random.stateless_uniform([batch, size, size, 3], (0, batch), -120, 120)
        for mode, call in calls.items():
            call(images).numpy()
            seconds = []
            for _ in range(rounds):
                start = time.perf_counter()
                call(images).numpy()
                seconds.append(time.perf_counter() - start)
            timings[mode][batch] = 1000 * statistics.median(seconds) / batch
    return {"params": model.count_params(), "flops": conv_flops(model),
            "rss_before": rss_before, "rss_peak": peak_rss_bytes(), "ms_per_image": timings}


def training_steps(segmenter, root, size, steps):
    """Seconds of `steps` training steps through the pipeline and on a constant batch."""
    import tempfile

    from neural_body_fitting import training
    from neural_body_fitting.configs.segmentation import segmentation_config

    config = segmentation_config(segmenter)
    config.runtime.dataset_root = root
    config.data.input_size = size
    config.runtime.image_summaries = False
    config.runtime.summary_freq = config.runtime.save_freq = 10 ** 9
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = training.Trainer(config, run_dir, progress=False)

        def numeric(batch):
            return {k: v for k, v in batch.items() if k not in ("id", "path")}

        constant = numeric(next(trainer.iterator))
        kinds = {"pipeline": lambda: trainer._train_step(numeric(next(trainer.iterator))),
                 "constant batch": lambda: trainer._train_step(constant)}
        seconds = {kind: [] for kind in kinds}
        for round_ in range(steps + 1):  # The first round traces and warms up.
            for kind, step in kinds.items():
                start = time.perf_counter()
                float(step()["loss"])
                if round_:
                    seconds[kind].append(time.perf_counter() - start)
    return seconds


def run_child(segmenter, batch_sizes, data_root):
    """Measures `segmenter` in a subprocess running this script with --child."""
    command = [sys.executable, os.path.abspath(__file__), f"--child={segmenter}",
               f"--batch_sizes={','.join(map(str, batch_sizes))}", f"--rounds={ROUNDS.value}",
               f"--input_size={SIZE.value}", f"--train_input_size={TRAIN_SIZE.value}",
               f"--train_steps={TRAIN_STEPS.value}", f"--data={data_root}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"measuring {segmenter} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    batch_sizes = [int(b) for b in BATCH_SIZES.value]
    if CHILD.value:
        result = measure(CHILD.value, batch_sizes, ROUNDS.value, SIZE.value)
        if TRAIN_SIZE.value:
            result["train_seconds"] = training_steps(CHILD.value, DATA.value, TRAIN_SIZE.value,
                                                     TRAIN_STEPS.value)
        print(json.dumps(result))
        return
    unknown = sorted(set(SEGMENTER_NAMES.value) - set(SEGMENTERS))
    if unknown:
        raise app.UsageError(f"--segmenters: unknown {unknown}, expected some of {SEGMENTERS}")
    import tempfile

    import tensorflow as tf

    from neural_body_fitting.data import synthesis

    with tempfile.TemporaryDirectory() as root:
        if TRAIN_SIZE.value:
            synthesis.generate_dataset(root, {"train": TRAIN_SAMPLES}, seed=0, progress=False)
        results = {name: run_child(name, batch_sizes, root) for name in SEGMENTER_NAMES.value}

    print(f"# bench_segmentation: {SIZE.value}x{SIZE.value}, median of {ROUNDS.value} calls; "
          f"TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} cores")
    print(f"# command: python benchmarks/bench_segmentation.py "
          f"--segmenters={','.join(SEGMENTER_NAMES.value)} "
          f"--batch_sizes={','.join(BATCH_SIZES.value)} "
          f"--rounds={ROUNDS.value} --input_size={SIZE.value} "
          f"--train_input_size={TRAIN_SIZE.value} --train_steps={TRAIN_STEPS.value}")
    print("\n| segmenter | batch | " + " | ".join(f"{m} ms/image" for m in MODES) + " |")
    print("|---|---:|" + "---:|" * len(MODES))
    for name, result in results.items():
        for batch in batch_sizes:
            times = [result["ms_per_image"][mode][str(batch)] for mode in MODES]
            print(f"| {name} | {batch} | " + " | ".join(f"{t:.0f}" for t in times) + " |")
    print("\n| segmenter | parameters (M) | conv GFLOPs / image | peak RSS (GB) | "
          "RSS growth (GB) |")
    print("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['params'] / 1e6:.1f} | {result['flops'] / 1e9:.1f} | "
              f"{result['rss_peak'] / 2 ** 30:.2f} | "
              f"{(result['rss_peak'] - result['rss_before']) / 2 ** 30:.2f} |")
    if not TRAIN_SIZE.value:
        return
    print(f"\n| segmenter | training step at {TRAIN_SIZE.value} px, batch 5: pipeline (s) | "
          "constant batch (s) | pipeline overhead |")
    print("|---|---:|---:|---:|")
    for name, result in results.items():
        pipeline, constant = (result["train_seconds"][k] for k in ("pipeline", "constant batch"))
        overhead = statistics.median(p / c for p, c in zip(pipeline, constant)) - 1
        print(f"| {name} | {statistics.median(pipeline):.2f} | "
              f"{statistics.median(constant):.2f} | {100 * overhead:+.1f}% |")


if __name__ == "__main__":
    app.run(main)
