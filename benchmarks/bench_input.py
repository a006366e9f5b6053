"""Throughput of the fitting network's tf.data input pipeline.

Generates a small synthetic dataset in a temporary directory, then measures
samples/s of `nbf.data.make_dataset` (batch 32, shuffled, repeated) after a
warm-up, per input encoding, streaming from disk and with the in-memory cache.

Usage: python benchmarks/bench_input.py [--num_samples=128] [--seconds=5]
"""
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from neural_body_fitting import data  # noqa: E402
from neural_body_fitting.data import synthesis

NUM_SAMPLES = flags.DEFINE_integer("num_samples", 128, "Samples in the generated dataset.")
SECONDS = flags.DEFINE_float("seconds", 5.0, "Measurement time per case.")
BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size.")


def samples_per_second(ds, batch, seconds):
    iterator = iter(ds)
    for _ in range(3):
        next(iterator)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterator)["input"].numpy()
        count += batch
    return count / (time.perf_counter() - start)


def main(argv):
    del argv
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as root:
        synthesis.generate_dataset(root, {"train": NUM_SAMPLES.value}, seed=0, progress=False)
        print(f"# bench_input: {NUM_SAMPLES.value} synthetic samples, batch {BATCH.value}; "
              f"TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} cores")
        print("# command: python benchmarks/bench_input.py")
        print("| input | streaming samples/s | cached samples/s |")
        print("|---|---:|---:|")
        for input_type in ("parts12", "parts24", "parts6", "joints14", "rgb"):
            rates = []
            for cache in (False, True):
                split = data.load_split(root, "train", input_type)
                ds = data.make_dataset(split, data.FittingInputs(input_type, cache=cache),
                                       batch_size=BATCH.value)
                rates.append(samples_per_second(ds, BATCH.value, SECONDS.value))
            print(f"| {input_type} | {rates[0]:,.0f} | {rates[1]:,.0f} |")


if __name__ == "__main__":
    app.run(main)
