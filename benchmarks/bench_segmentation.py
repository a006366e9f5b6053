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

Usage: python benchmarks/bench_segmentation.py [--segmenters=a,b] [--batch_sizes=1,4]
           [--rounds=5] [--input_size=512]
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
CHILD = flags.DEFINE_string("child", None, "Internal: measure this segmenter, print JSON.")


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


def run_child(segmenter, batch_sizes):
    """Measures `segmenter` in a subprocess running this script with --child."""
    command = [sys.executable, os.path.abspath(__file__), f"--child={segmenter}",
               f"--batch_sizes={','.join(map(str, batch_sizes))}", f"--rounds={ROUNDS.value}",
               f"--input_size={SIZE.value}"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"measuring {segmenter} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv):
    del argv
    batch_sizes = [int(b) for b in BATCH_SIZES.value]
    if CHILD.value:
        print(json.dumps(measure(CHILD.value, batch_sizes, ROUNDS.value, SIZE.value)))
        return
    unknown = sorted(set(SEGMENTER_NAMES.value) - set(SEGMENTERS))
    if unknown:
        raise app.UsageError(f"--segmenters: unknown {unknown}, expected some of {SEGMENTERS}")
    results = {name: run_child(name, batch_sizes) for name in SEGMENTER_NAMES.value}
    import tensorflow as tf

    print(f"# bench_segmentation: {SIZE.value}x{SIZE.value}, median of {ROUNDS.value} calls; "
          f"TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} cores")
    print(f"# command: python benchmarks/bench_segmentation.py "
          f"--segmenters={','.join(SEGMENTER_NAMES.value)} "
          f"--batch_sizes={','.join(BATCH_SIZES.value)} "
          f"--rounds={ROUNDS.value} --input_size={SIZE.value}")
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


if __name__ == "__main__":
    app.run(main)
