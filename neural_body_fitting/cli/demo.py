"""`make demo`: generate data, train the fitting network on the CPU, evaluate.

    nbf-demo [--output_dir=demo_output] [--train_seconds=300]

1. builds the body model (the synthetic one unless --smpl_model or
   $NBF_SMPL_MODEL point to a real SMPL file);
2. writes a small synthetic dataset (480 training, 64 test samples);
3. trains with the `demo` experiment (configs/demo.py) for --train_seconds;
4. evaluates on the held-out test samples both the baseline that predicts
   the latent mean and the trained network, and prints a table.
"""
import os
import time

import numpy as np
from absl import flags, logging

from neural_body_fitting import configs, evaluation, training
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.cli import common
from neural_body_fitting.data import layout, synthesis

OUTPUT_DIR = flags.DEFINE_string("output_dir", "demo_output", "Data and run directory.")
SMPL_MODEL = common.define_smpl_model_flag()
TRAIN_SECONDS = flags.DEFINE_float("train_seconds", 300, "Training time budget.")
NUM_TRAIN = flags.DEFINE_integer("num_train", 480, "Training samples to generate.")
NUM_TEST = flags.DEFINE_integer("num_test", 64, "Held-out samples to generate.")


def demo_config(dataset_root, smpl_model):
    """The `demo` experiment, pointed at the demo data."""
    config = configs.get_experiment("demo")
    config.dataset_root = dataset_root
    config.eval_split = "test"
    config.body_model = smpl_model or ""
    return config


def ensure_dataset(root, counts, smpl_model):
    info = layout.read_dataset_info(root)
    if (info.get("counts") == counts and info.get("complete", True)
            and info.get("body_model") == resolve_body_model(smpl_model).name):
        print(f"Using the dataset in {root} ({counts})")
        return
    start = time.perf_counter()
    synthesis.generate_dataset(root, counts, seed=0, body_model=smpl_model,
                               mirror_fraction=0.5, workers=2, overwrite=True)
    print(f"Generated {sum(counts.values())} samples in {time.perf_counter() - start:.0f} s "
          f"-> {root}")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keep the console to the demo's own output.
    model = resolve_body_model(SMPL_MODEL.value)
    print(f"Body model: {model.name}: {model.num_vertices} vertices, {len(model.faces)} faces, "
          f"height {np.ptp(model.v_template[:, 1]):.2f} m")
    root = os.path.join(OUTPUT_DIR.value, "data")
    run_dir = os.path.join(OUTPUT_DIR.value, "run")
    ensure_dataset(root, {"train": NUM_TRAIN.value, "test": NUM_TEST.value}, SMPL_MODEL.value)
    config = demo_config(root, SMPL_MODEL.value)
    trainer = training.Trainer(config, run_dir)
    start = time.perf_counter()
    metrics = trainer.train(max_seconds=TRAIN_SECONDS.value)
    print(f"Trained to step {trainer.step} in {time.perf_counter() - start:.0f} s "
          f"(last batch loss {metrics.get('loss', float('nan')):.3f}); run in {run_dir}")
    rows = [("baseline: latent mean",
             evaluation.run_evaluation(config, run_dir, "test", baseline=True)),
            (f"NBF, {trainer.step} steps", evaluation.run_evaluation(config, run_dir, "test"))]
    print(f"\nHeld-out synthetic test set ({NUM_TEST.value} samples):")
    print("| model | 3D joint error (mm) | reconstruction error (mm) | PCKh | "
          "rotation error (rad) |")
    print("|---|---:|---:|---:|---:|")
    for name, summary in rows:
        print(f"| {name} | {summary['mean_err_joints3D']:.1f} | {summary['mean_recon_err']:.1f}"
              f" | {summary['mean_pckh']:.3f} | {summary['mean_err_quat']:.3f} |")


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
