"""Inference throughput on the CPU: images/s of `fit` and `segment_fit`, eager
Predictor against the exported SavedModel, and what rendering and writing the
outputs cost `run_inference` (target: <= 10% of the wall time).

Two shares are printed: the writer thread's own time over the wall time
(what rendering and writing would cost done one after the other with the
networks, as the original did: ~80% of its inference time went to its
renderer), and the wall time the run spends waiting for the writer (what
the overlap with the networks leaves of it).

Usage: python benchmarks/bench_infer.py [--input_size=224]
           [--segmenter=refinenet_resnet_v1_101] [--batch_sizes=1,8] [--repeats=5]
           [--people=16]

Nothing is trained: random-initialised networks cost the same.
"""
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting import configs, constants, networks, render, serving  # noqa: E402
from neural_body_fitting.networks import segmentation  # noqa: E402
from neural_body_fitting.serving import export  # noqa: E402
from neural_body_fitting.utils import images  # noqa: E402

INPUT_SIZE = flags.DEFINE_integer("input_size", constants.FIT_SIZE, "Fitting-network input.")
SEGMENTER = flags.DEFINE_enum("segmenter", "refinenet_resnet_v1_101", segmentation.SEGMENTERS,
                              "Stage-1 network.")
SEGMENTER_SIZE = flags.DEFINE_integer("segmenter_size", constants.CROP_SIZE, "Stage-1 input.")
BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "8"], "Batch sizes.")
REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per case (after one warm-up).")
PEOPLE = flags.DEFINE_integer("people", 64, "People (inputs) of the output-writing measurement.")


def images_per_second(run, inputs):
    run(inputs)  # Traces and warms up.
    start = time.perf_counter()
    for _ in range(REPEATS.value):
        run(inputs)
    return REPEATS.value * len(inputs) / (time.perf_counter() - start)


def output_share(predictor, folder, mode):
    """`run_inference` on --people part maps (fit) or 512 px crops (segment_fit): its Summary."""
    rng = np.random.default_rng(0)
    inputs = os.path.join(folder, f"inputs_{mode}")
    for k in range(PEOPLE.value):
        if mode == "fit":
            labels = np.kron(rng.integers(0, 13, (28, 28)), np.ones((8, 8), np.int64))
            image = render.colourise(labels)
        else:
            image = rng.integers(0, 256, (constants.CROP_SIZE, constants.CROP_SIZE, 3), np.uint8)
        images.write_png(os.path.join(inputs, f"person{k:03d}.png"), image)
    return serving.run_inference(predictor, inputs, os.path.join(folder, f"out_{mode}"), mode,
                                 batch_size=8, progress=False)


def main(argv):
    del argv
    config = configs.default_config()
    config.input_size = INPUT_SIZE.value
    model = networks.build_fitting_model(config)
    segmenter = segmentation.build_segmentation_model(SEGMENTER.value, SEGMENTER_SIZE.value)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        export.export_saved_model(os.path.join(folder, "export"), model, segmenter)
        predictors = {"eager Predictor": serving.Predictor(model, segmenter),
                      "SavedModel": serving.Predictor.from_saved_model(
                          os.path.join(folder, "export"))}
        print(f"# bench_infer: {config.encoder_type} at {INPUT_SIZE.value} px, segmenter "
              f"{SEGMENTER.value} at {SEGMENTER_SIZE.value} px; {platform.machine()}, "
              f"{os.cpu_count()} cores")
        print("| mode | batch | eager Predictor (images/s) | SavedModel (images/s) |")
        print("| --- | --- | --- | --- |")
        for batch in (int(b) for b in BATCH_SIZES.value):
            maps = render.colourise(rng.integers(0, 13, (batch, 224, 224)))
            crops = rng.integers(0, 256, (batch, 512, 512, 3), dtype=np.uint8)
            for mode, inputs in (("fit", maps), ("segment_fit", crops)):
                cells = [f"{images_per_second(getattr(p, mode), inputs):.2f}"
                         for p in predictors.values()]
                print(f"| {mode} | {batch} | {' | '.join(cells)} |")
        summaries = {mode: output_share(predictors["SavedModel"], folder, mode)
                     for mode in ("fit", "segment_fit")}
    print(f"\nrun_inference on {PEOPLE.value} people, batch 8 (rendering and writing run in a "
          "writer thread beside the networks):\n")
    print("| mode | wall time (s) | networks (s) | rendering and writing (s) | "
          "share of the wall time, one after the other | waiting for the writer (s) | "
          "share of the wall time waiting |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, summary in summaries.items():
        total, writing = summary.seconds_total, summary.seconds_writing
        waiting = summary.seconds_waiting_for_writes
        print(f"| {mode} | {total:.2f} | {summary.seconds_predicting:.2f} | {writing:.2f} | "
              f"{100 * writing / (total - waiting + writing):.0f}% | {waiting:.2f} | "
              f"{100 * waiting / total:.0f}% |")

if __name__ == "__main__":
    app.run(main)
