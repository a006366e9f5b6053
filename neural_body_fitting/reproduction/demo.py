"""`make demo`'s steps (the command is `cli/demo.py`): data, training, evaluation
against the mean pose, learning curve, gallery, and the full recipe's cost here.

1. builds the body model (the synthetic one unless `smpl_model` or
   $NBF_SMPL_MODEL point to a real SMPL file);
2. writes a synthetic dataset (1500 training, 128 held-out samples), or
   reuses the one an earlier demo wrote;
3. trains the `demo` experiment (configs/demo.py: the original network and
   losses at 96 px, ~7 minutes on two cores), evaluating the held-out samples
   every 100 steps (validation.csv and TensorBoard in the run directory);
4. evaluates on the held-out samples the untrained network, which predicts
   the latent mean (the mean pose), and the trained one, and prints a table
   with the improvement and the margins the demo has to show: 3D joint error
   at least 45% and Procrustes reconstruction error at least 20% below the
   mean pose's;
5. saves the learning curve as <output_dir>/learning_curve.png;
6. runs the trained network through the inference pipeline (`serving`) on
   the first held-out part maps: per person the SMPL parameters, meshes and
   overlays, and <output_dir>/gallery/index.html to browse them;
7. times a few steps of the full recipe (configs/demo_up.py: 224 px,
   batch 5, 75 epochs of UP-3D) and prints what training it would take here.

A second call reuses the data and the finished run and only evaluates again.
"""
import os
import shutil
import time

import numpy as np

from neural_body_fitting import configs, evaluation, serving, training
from neural_body_fitting.body import pose_prior
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.configs import demo
from neural_body_fitting.data import layout, synthesis

# The improvement over the mean pose the demo is meant to show (README).
MARGINS = {"mean_err_joints3D": 0.45, "mean_recon_err": 0.20}
UP3D_TRAINING_IMAGES = 5703  # The full recipe's data (docs/data.md).
TIMED_STEPS = 3  # Steps of the full recipe timed after one warm-up step.
GALLERY_INPUTS = "test_0000[01]?_colours.png"  # The first 20 held-out colour maps.


def demo_config(dataset_root, smpl_model, steps=0):
    """The `demo` experiment, pointed at the demo data."""
    config = configs.get_experiment("demo")
    config.runtime.dataset_root = dataset_root
    config.model.body_model = smpl_model or ""
    if steps:
        config.runtime.max_steps = steps
    return config


def improvement(baseline, trained, key):
    """The relative reduction of error `key` from the baseline to the trained network."""
    return 1.0 - trained[key] / baseline[key]


def print_results(baseline, trained, steps, num_test):
    print(f"\nHeld-out synthetic test set ({num_test} samples):")
    print("| model | 3D joint error (mm) | Procrustes error (mm) | PCKh | rotation error (rad) |")
    print("|---|---:|---:|---:|---:|")
    for name, summary in (("untrained: latent mean (mean pose)", baseline),
                          (f"NBF, {steps} steps", trained)):
        print(f"| {name} | {summary['mean_err_joints3D']:.1f} | {summary['mean_recon_err']:.1f}"
              f" | {summary['mean_pckh']:.3f} | {summary['mean_err_quat']:.3f} |")
    print()
    for key, name in (("mean_err_joints3D", "3D joint error"),
                      ("mean_recon_err", "Procrustes error")):
        gain = improvement(baseline, trained, key)
        verdict = "met" if gain >= MARGINS[key] else "NOT met"
        print(f"{name}: {100 * gain:.1f}% below the mean pose's "
              f"(the demo's target: >= {100 * MARGINS[key]:.0f}%: {verdict})")


def time_full_recipe(dataset_root, smpl_model, scratch_dir):
    """Seconds per step of the `demo_up` recipe on this machine, from a few steps on the demo data.

    The step costs what it would on UP-3D (same network, input size, batch
    and losses); only the landmark count follows the demo data.
    """
    config = configs.get_experiment("demo_up")
    config.runtime.dataset_root = dataset_root
    config.model.body_model = smpl_model or ""
    config.data.num_landmarks = layout.read_dataset_info(dataset_root)["num_landmarks"]
    config.runtime.save_freq = 1 << 30
    config.runtime.summary_freq = 1 << 30
    shutil.rmtree(scratch_dir, ignore_errors=True)
    try:
        trainer = training.Trainer(config, scratch_dir, progress=False)
        stamps = []
        trainer.train(max_steps=1 + TIMED_STEPS,
                      on_step=lambda step, metrics: stamps.append(time.perf_counter()))
        return (stamps[-1] - stamps[0]) / TIMED_STEPS, config
    finally:
        shutil.rmtree(scratch_dir, ignore_errors=True)


def print_full_recipe(seconds_per_step, config, demo_seconds_per_step):
    steps = config.runtime.max_epochs * UP3D_TRAINING_IMAGES // config.optim.batch_size
    hours = steps * seconds_per_step / 3600
    print(f"\nThe full recipe (configs/demo_up.py: {config.data.input_size} px, batch "
          f"{config.optim.batch_size}, {config.runtime.max_epochs} epochs of UP-3D's "
          f"{UP3D_TRAINING_IMAGES} training images = {steps} steps) takes "
          f"{seconds_per_step:.2f} s a step here ({demo_seconds_per_step:.2f} s for the demo's, "
          "validations included): "
          f"about {hours:.0f} h of training on this machine, against 6 h on one V100 in the "
          "paper, plus the segmentation network (12 h there).")


def run_demo(output_dir, smpl_model=None, steps=0, num_train=demo.NUM_TRAIN,
             num_test=demo.NUM_TEST):
    """Runs the demo's steps (module docstring) in `output_dir`.

    Raises `training.runs.RunMismatchError` when `output_dir` holds an
    earlier demo's run with another recipe.
    """
    start = time.perf_counter()
    model = resolve_body_model(smpl_model)
    print(f"Body model: {model.name}: {model.num_vertices} vertices, {len(model.faces)} faces, "
          f"height {np.ptp(model.v_template[:, 1]):.2f} m")
    root = os.path.join(output_dir, "data")
    run_dir = os.path.join(output_dir, "run")
    # The Euler-limit prior: the demo's recorded errors and targets were measured on it.
    synthesis.ensure_synthetic_dataset(root, {"train": num_train, "test": num_test}, smpl_model,
                                       prior=pose_prior.PosePrior(pose_prior.LIMITS_PRIOR))
    config = demo_config(root, smpl_model, steps)
    try:
        trainer = training.Trainer(config, run_dir)
    except training.runs.RunMismatchError as error:
        raise training.runs.RunMismatchError(
            f"{error}\nThis is an earlier demo's run with another recipe: remove {run_dir} "
            "(or pass another --output_dir) and run the demo again.") from None
    first_step, train_start = trainer.step, time.perf_counter()
    trainer.train(on_step=evaluation.Validator(trainer))
    train_seconds = time.perf_counter() - train_start
    trained_steps = trainer.step - first_step
    print(f"Trained to step {trainer.step} in {train_seconds:.0f} s; run in {run_dir}")
    baseline = evaluation.run_evaluation(config, run_dir, config.runtime.eval_split, baseline=True)
    trained = evaluation.run_evaluation(config, run_dir, config.runtime.eval_split)
    print_results(baseline, trained, trainer.step, num_test)
    curve = os.path.join(output_dir, "learning_curve.png")
    plots = evaluation.plots
    if plots.plot_learning_curves(
            curve, plots.run_curves({"NBF (demo)": run_dir}),
            "make demo: held-out error while training",
            metrics=("mean_err_joints3D", "mean_recon_err"),
            baselines={key: baseline[key] for key in MARGINS}):
        print(f"Learning curve: {curve}")
    gallery = serving.run_inference(
        serving.Predictor.from_runs(run_dir),
        os.path.join(root, "colours", GALLERY_INPUTS), os.path.join(output_dir, "gallery"),
        mode="fit", overwrite=True, progress=False)
    print(f"Gallery of {len(gallery.written)} held-out samples: {gallery.gallery}")
    print(f"Demo wall time: {time.perf_counter() - start:.0f} s")
    seconds_per_step, full_config = time_full_recipe(
        root, smpl_model, os.path.join(output_dir, "full_recipe_timing"))
    # Validations every config.runtime.validation_freq steps are inside the training time.
    demo_seconds_per_step = train_seconds / trained_steps if trained_steps else float("nan")
    print_full_recipe(seconds_per_step, full_config, demo_seconds_per_step)
