"""Throughput of the SMPL layer, and the floor set by its two dense products.

Prints samples/s for the forward pass and forward+backward (gradients with
respect to betas and pose) at several batch sizes in three execution modes:

  eager        the layer run op by op (`tf.config.run_functions_eagerly`)
  tf.function  the layer inside a user `tf.function`, no XLA
  xla          the layer inside `tf.function(jit_compile=True)`
  default      `nbf.SMPL()(betas, pose)` called as is (its own XLA-compiled pass)

and, as a floor, the time of the two dense products alone: pose blend shapes
[B, 207] x [207, 3V] and the skinning product of the weights [V, 24] with the
per-joint transforms [24, B * 12].

Usage: python benchmarks/bench_smpl.py [--batch_sizes=1,64,256] [--body_model=PATH]
"""
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting import body_model as body_model_lib  # noqa: E402
from neural_body_fitting import smpl  # noqa: E402

FLAGS = flags.DEFINE_list("batch_sizes", ["1", "64", "256"], "Batch sizes to measure.")
BODY_MODEL = flags.DEFINE_string("body_model", None, "SMPL file; default: synthetic model.")
MIN_SECONDS = flags.DEFINE_float("min_seconds", 1.0, "Measure each case at least this long.")


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


def floor_seconds(model, batch, min_seconds):
    """Time of the pose-blend product plus the skinning product alone (XLA-compiled)."""
    rng = np.random.default_rng(1)
    num_vertices = model.num_vertices
    posedirs = tf.constant(rng.normal(size=(207, 3 * num_vertices)), tf.float32)
    feature = tf.constant(rng.normal(size=(batch, 207)), tf.float32)
    weights = tf.constant(model.weights, tf.float32)
    transforms = tf.constant(rng.normal(size=(24, batch * 12)), tf.float32)
    best = {}
    for name, jit in (("graph", False), ("xla", True)):
        blend = tf.function(lambda: tf.matmul(feature, posedirs), jit_compile=jit)
        skinning = tf.function(lambda: tf.matmul(weights, transforms), jit_compile=jit)
        best[name] = (time_call(blend, min_seconds), time_call(skinning, min_seconds))
    blend_time = min(times[0] for times in best.values())
    skin_time = min(times[1] for times in best.values())
    return blend_time, skin_time


def main(argv):
    del argv
    model = body_model_lib.resolve_body_model(BODY_MODEL.value)
    print(f"# bench_smpl: {model.name}, V={model.num_vertices}; TensorFlow {tf.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("# command: python benchmarks/bench_smpl.py "
          f"--batch_sizes={','.join(FLAGS.value)}")
    runners = mode_runners(model)
    header = ("| batch | mode | forward samples/s | forward ms | fwd+bwd samples/s | fwd+bwd ms |")
    print(header)
    print("|---:|---|---:|---:|---:|---:|")
    floors = {}
    default_ms = {}
    for batch in (int(b) for b in FLAGS.value):
        betas, pose = make_inputs(batch, model.num_betas)
        for mode, (fwd, fwd_bwd) in runners.items():
            if mode == "eager":
                tf.config.run_functions_eagerly(True)
            seconds = time_call(lambda: fwd(betas, pose), MIN_SECONDS.value)
            seconds_bwd = time_call(lambda: fwd_bwd(betas, pose), MIN_SECONDS.value)
            tf.config.run_functions_eagerly(False)
            if mode == "default":
                default_ms[batch] = seconds * 1e3
            print(f"| {batch} | {mode} | {batch / seconds:,.0f} | {seconds * 1e3:.2f} | "
                  f"{batch / seconds_bwd:,.0f} | {seconds_bwd * 1e3:.2f} |")
        floors[batch] = floor_seconds(model, batch, MIN_SECONDS.value)
    print()
    print("| batch | pose-blend product ms | skinning product ms | floor ms | default forward ms "
          "| default / floor |")
    print("|---:|---:|---:|---:|---:|---:|")
    for batch, (blend, skin) in floors.items():
        floor_ms = (blend + skin) * 1e3
        print(f"| {batch} | {blend * 1e3:.2f} | {skin * 1e3:.2f} | {floor_ms:.2f} | "
              f"{default_ms[batch]:.2f} | {default_ms[batch] / floor_ms:.2f}x |")


if __name__ == "__main__":
    app.run(main)
