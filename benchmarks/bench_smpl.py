"""Throughput of the SMPL layer, and the floor set by its two dense products.

Prints samples/s for the forward pass and forward+backward (gradients with
respect to betas and pose) at several batch sizes in three execution modes:

  eager        the layer run op by op (`tf.config.run_functions_eagerly`)
  tf.function  the layer inside a user `tf.function`, no XLA
  xla          the layer inside `tf.function(jit_compile=True)`
  default      `nbf.SMPL()(betas, pose)` called as is (its own XLA-compiled pass)

and, as a floor, the time of the two dense products alone: pose blend shapes
[B, 207] x [207, 3V] and the skinning product of the weights [V, 24] with the
per-joint transforms [24, B * 12], timed round-robin with the default forward
so that the ratio is measured under the same load.

Usage: python benchmarks/bench_smpl.py [--batch_sizes=1,64,256] [--body_model=PATH]
"""
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting.body import smpl  # noqa: E402
from neural_body_fitting.body.resolve import resolve_body_model

FLAGS = flags.DEFINE_list("batch_sizes", ["1", "64", "256"], "Batch sizes to measure.")
BODY_MODEL = flags.DEFINE_string("body_model", None, "SMPL file; default: synthetic model.")
MIN_SECONDS = flags.DEFINE_float("min_seconds", 1.0, "Measure each case at least this long.")
ROUNDS = flags.DEFINE_integer("rounds", 40, "Interleaved rounds of the floor comparison.")


def time_call(function, min_seconds):
    """Median seconds per call of `function` after two warm-up calls."""
    for _ in range(2):
        function()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_seconds or len(times) < 5:
        tick = time.perf_counter()
        function()
        times.append(time.perf_counter() - tick)
    return float(np.median(times))


def make_inputs(batch, num_betas):
    rng = np.random.default_rng(0)
    betas = tf.constant(rng.normal(size=(batch, num_betas)), tf.float32)
    pose = tf.constant(rng.normal(scale=0.4, size=(batch, 72)), tf.float32)
    return betas, pose


def forward_and_backward(layer):
    def step(betas, pose):
        with tf.GradientTape() as tape:
            tape.watch([betas, pose])
            vertices = layer(betas, pose)["vertices"]
            loss = tf.reduce_sum(vertices * vertices)
        return tape.gradient(loss, [betas, pose])
    return step


def forward(layer):
    return lambda betas, pose: layer(betas, pose)["vertices"]


def mode_runners(model):
    """{mode: (forward, forward+backward)} callables taking (betas, pose)."""
    plain = smpl.SMPL(model, jit_compile=False)
    default = smpl.SMPL(model)
    runners = {
        "eager": (forward(plain), forward_and_backward(plain)),
        "tf.function": (tf.function(forward(plain)), tf.function(forward_and_backward(plain))),
        "xla": (tf.function(forward(plain), jit_compile=True),
                tf.function(forward_and_backward(plain), jit_compile=True)),
        "default": (forward(default), forward_and_backward(default)),
    }
    return runners


def floor_comparison(model, layer, batch, rounds):
    """Median ms of the two dense products and of the default forward, interleaved.

    The three are timed round-robin in the same rounds, so that load from
    elsewhere on a shared machine affects them alike; the ratio is the median
    of the per-round ratios.
    """
    rng = np.random.default_rng(1)
    posedirs = tf.Variable(rng.normal(size=(207, 3 * model.num_vertices)), dtype=tf.float32)
    weights = tf.Variable(model.weights, dtype=tf.float32)
    feature = tf.constant(rng.normal(size=(batch, 207)), tf.float32)
    transforms = tf.constant(rng.normal(size=(24, batch * 12)), tf.float32)
    products = {
        "blend": tf.function(lambda: tf.matmul(feature, posedirs), jit_compile=True),
        "skinning": tf.function(lambda: tf.matmul(weights, transforms), jit_compile=True),
    }
    betas, pose = make_inputs(batch, model.num_betas)
    in_function = tf.function(lambda b, p: layer(b, p)["vertices"])
    candidates = {
        **products,
        "default": lambda: layer(betas, pose)["vertices"],
        "default_in_function": lambda: in_function(betas, pose),
    }
    for function in candidates.values():
        function(), function()
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, function in candidates.items():
            tick = time.perf_counter()
            np.asarray(function())
            times[name].append(time.perf_counter() - tick)
    times = {name: np.array(values) * 1e3 for name, values in times.items()}
    floor = times["blend"] + times["skinning"]
    ratios = {name: float(np.median(times[name] / floor))
              for name in ("default", "default_in_function")}
    return {name: float(np.median(values)) for name, values in times.items()}, ratios


def main(argv):
    del argv
    model = resolve_body_model(BODY_MODEL.value)
    print(f"# bench_smpl: {model.name}, V={model.num_vertices}; TensorFlow {tf.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("# command: python benchmarks/bench_smpl.py "
          f"--batch_sizes={','.join(FLAGS.value)}")
    runners = mode_runners(model)
    header = ("| batch | mode | forward samples/s | forward ms | fwd+bwd samples/s | fwd+bwd ms |")
    print(header)
    print("|---:|---|---:|---:|---:|---:|")
    batch_sizes = [int(b) for b in FLAGS.value]
    for batch in batch_sizes:
        betas, pose = make_inputs(batch, model.num_betas)
        for mode, (fwd, fwd_bwd) in runners.items():
            if mode == "eager":
                tf.config.run_functions_eagerly(True)
            seconds = time_call(lambda: fwd(betas, pose), MIN_SECONDS.value)
            seconds_bwd = time_call(lambda: fwd_bwd(betas, pose), MIN_SECONDS.value)
            tf.config.run_functions_eagerly(False)
            print(f"| {batch} | {mode} | {batch / seconds:,.0f} | {seconds * 1e3:.2f} | "
                  f"{batch / seconds_bwd:,.0f} | {seconds_bwd * 1e3:.2f} |")
    print()
    print("| batch | pose-blend product ms | skinning product ms | default, eager call ms "
          "| ratio to floor | default, in a tf.function ms | ratio to floor |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    layer = smpl.SMPL(model)
    for batch in batch_sizes:
        medians, ratios = floor_comparison(model, layer, batch, ROUNDS.value)
        print(f"| {batch} | {medians['blend']:.2f} | {medians['skinning']:.2f} | "
              f"{medians['default']:.2f} | {ratios['default']:.2f}x | "
              f"{medians['default_in_function']:.2f} | {ratios['default_in_function']:.2f}x |")


if __name__ == "__main__":
    app.run(main)
