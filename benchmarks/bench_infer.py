"""Inference throughput on the CPU: images/s of `fit` and `segment_fit`, eager
Predictor against the exported SavedModel, and what rendering and writing the
outputs cost `run_inference` (target: <= 10% of the wall time).

Two shares are printed for `run_inference` on --people inputs at batch 8:
  - waiting: the wall time the run spends waiting for its writer threads
    after the networks are done with a batch (what the overlap with the
    networks leaves of rendering and writing);
  - one after the other: every person's outputs written alone (no network
    running) against the networks alone, as if the two ran one after the
    other as in the original (~80% of its inference time went to its renderer).

Usage: python benchmarks/bench_infer.py [--input_size=224]
           [--segmenter=refinenet_resnet_v1_101] [--batch_sizes=1,8] [--repeats=5]
           [--people=64]

Nothing is trained: random-initialised networks cost the same.
"""
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting import configs, constants, networks, serving  # noqa: E402
from neural_body_fitting.data import encodings  # noqa: E402
from neural_body_fitting.networks import segmentation  # noqa: E402
from neural_body_fitting.serving import crops, export, inference, outputs  # noqa: E402
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


def example_inputs(mode, count, rng):
    """`count` inputs of a mode: part maps [224, 224, 3] (8 px cells) or 512 px images."""
    if mode == "fit":
        labels = np.kron(rng.integers(0, 13, (count, 28, 28)), np.ones((1, 8, 8), np.int64))
        return encodings.colourise(labels)
    return rng.integers(0, 256, (count, constants.CROP_SIZE, constants.CROP_SIZE, 3), np.uint8)


def output_run(predictor, folder, mode):
    """`run_inference` on --people inputs of a mode, written as image files: its Summary."""
    inputs = os.path.join(folder, f"inputs_{mode}")
    for k, image in enumerate(example_inputs(mode, PEOPLE.value, np.random.default_rng(0))):
        images.write_png(os.path.join(inputs, f"person{k:03d}.png"), image)
    return serving.run_inference(predictor, inputs, os.path.join(folder, f"out_{mode}"), mode,
                                 batch_size=8, progress=False)


def writing_seconds_alone(predictor, folder, mode, count=8):
    """Seconds to render and write one person's outputs with nothing else running (median)."""
    inputs = example_inputs(mode, count, np.random.default_rng(2))
    result = getattr(predictor, mode)(inputs, return_vertices=True)
    seconds = []
    for k in range(count):
        # As run_inference writes them: a part map is its own original.
        original = inputs[k] if mode == "fit" else None
        transform = crops.CropTransform.from_array(result["crop_transform"][k])
        tick = time.perf_counter()
        outputs.write_person(os.path.join(folder, f"alone_{mode}"), f"person{k}", result, k,
                             predictor.faces, inputs[k], original, transform)
        seconds.append(time.perf_counter() - tick)
    return float(np.median(seconds))


def main(argv):
    del argv
    config = configs.default_config()
    config.data.input_size = INPUT_SIZE.value
    model = networks.build_fitting_model(config)
    segmenter = segmentation.build_segmentation_model(SEGMENTER.value, SEGMENTER_SIZE.value)
    rng = np.random.default_rng(1)
    modes = ("fit", "segment_fit")
    with tempfile.TemporaryDirectory() as folder:
        export.export_saved_model(os.path.join(folder, "export"), model, segmenter)
        predictors = {"eager Predictor": serving.Predictor(model, segmenter),
                      "SavedModel": serving.Predictor.from_saved_model(
                          os.path.join(folder, "export"))}
        print(f"# bench_infer: {config.model.fitting.encoder_type} at {INPUT_SIZE.value} px, "
              f"segmenter "
              f"{SEGMENTER.value} at {SEGMENTER_SIZE.value} px; {platform.machine()}, "
              f"{os.cpu_count()} cores")
        print("| mode | batch | eager Predictor (images/s) | SavedModel (images/s) |")
        print("| --- | --- | --- | --- |")
        for batch in (int(b) for b in BATCH_SIZES.value):
            for mode in modes:
                inputs = example_inputs(mode, batch, rng)
                cells = [f"{images_per_second(getattr(p, mode), inputs):.2f}"
                         for p in predictors.values()]
                print(f"| {mode} | {batch} | {' | '.join(cells)} |")
        served = predictors["SavedModel"]
        runs = {mode: output_run(served, folder, mode) for mode in modes}
        networks_alone = {mode: PEOPLE.value / images_per_second(
            getattr(served, mode), example_inputs(mode, 8, rng)) for mode in modes}
        writing_alone = {mode: PEOPLE.value * writing_seconds_alone(served, folder, mode)
                         for mode in modes}
    print(f"\nrun_inference on {PEOPLE.value} people, batch 8, the SavedModel "
          f"({inference.WRITER_THREADS} writer threads render and write a batch while the "
          "networks run on the next):\n")
    print("| mode | wall time (s) | networks in the run (s) | waiting for the writers (s) | "
          "share of the wall time waiting | networks alone (s) | rendering and writing alone "
          "(s) | share, one after the other |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for mode, summary in runs.items():
        total, waiting = summary.seconds_total, summary.seconds_waiting_for_writes
        alone, writing = networks_alone[mode], writing_alone[mode]
        print(f"| {mode} | {total:.2f} | {summary.seconds_predicting:.2f} | {waiting:.2f} | "
              f"{100 * waiting / total:.0f}% | {alone:.2f} | {writing:.2f} | "
              f"{100 * writing / (alone + writing):.0f}% |")


if __name__ == "__main__":
    app.run(main)
