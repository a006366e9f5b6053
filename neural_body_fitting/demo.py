"""`make demo`: generate data, train the fitting network on the CPU, evaluate.

    python -m neural_body_fitting.demo [--output_dir=demo_output] [--train_seconds=300]

1. builds the body model (the synthetic one unless --smpl_model or
   $NBF_SMPL_MODEL point to a real SMPL file);
2. writes a small synthetic dataset (480 training, 64 test samples);
3. trains with `experiments/demo.py` for --train_seconds;
4. evaluates on the held-out test samples both the baseline that predicts
   the latent mean and the trained network, and prints a table.
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from neural_body_fitting import body_model, dataset, synthesis, training  # noqa: E402
from neural_body_fitting.evaluation import run_evaluation  # noqa: E402

OUTPUT_DIR = flags.DEFINE_string("output_dir", "demo_output", "Data and run directory.")
SMPL_MODEL = flags.DEFINE_string("smpl_model", None,
                                 "SMPL .pkl/.npz; default $NBF_SMPL_MODEL or 'synthetic'.")
TRAIN_SECONDS = flags.DEFINE_float("train_seconds", 300, "Training time budget.")
NUM_TRAIN = flags.DEFINE_integer("num_train", 480, "Training samples to generate.")
NUM_TEST = flags.DEFINE_integer("num_test", 64, "Held-out samples to generate.")


def demo_config(dataset_root, smpl_model):
    """experiments/demo.py, pointed at the demo data."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "experiments", "demo.py")
    spec = importlib.util.spec_from_file_location("demo_experiment", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.dataset_root = dataset_root
    config.eval_split = "test"
    config.body_model = smpl_model or ""
    return config


def ensure_dataset(root, counts, smpl_model):
    info = dataset.read_dataset_info(root)
    if info.get("counts") == counts:
        print(f"Using the dataset in {root} ({counts})")
        return
    start = time.perf_counter()
    synthesis.generate_dataset(root, counts, seed=0, body_model=smpl_model,
                               mirror_fraction=0.5, workers=2)
    print(f"Generated {sum(counts.values())} samples in {time.perf_counter() - start:.0f} s "
          f"-> {root}")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keep the console to the demo's own output.
    model = body_model.resolve_body_model(SMPL_MODEL.value)
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
    rows = [("baseline: latent mean", run_evaluation(config, run_dir, "test", baseline=True)),
            (f"NBF, {trainer.step} steps", run_evaluation(config, run_dir, "test"))]
    print(f"\nHeld-out synthetic test set ({NUM_TEST.value} samples):")
    print("| model | 3D joint error (mm) | reconstruction error (mm) | PCKh | "
          "rotation error (rad) |")
    print("|---|---:|---:|---:|---:|")
    for name, summary in rows:
        print(f"| {name} | {summary['mean_err_joints3D']:.1f} | {summary['mean_recon_err']:.1f}"
              f" | {summary['mean_pckh']:.3f} | {summary['mean_err_quat']:.3f} |")


if __name__ == "__main__":
    app.run(main)
