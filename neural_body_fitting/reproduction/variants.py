"""A table's variants: which, their configs, and training and evaluating their runs."""
import time

from neural_body_fitting import evaluation, training
from neural_body_fitting.configs import base, reproduce
from neural_body_fitting.reproduction import datasets
from neural_body_fitting.reproduction.budget import RequestError
from neural_body_fitting.utils import registry

BASELINE = "latent_mean"
# (evaluation summary key, column title, format).
METRICS = (("mean_err_joints3D", "3D joint error (mm)", ".1f"),
           ("mean_recon_err", "Procrustes mean (mm)", ".1f"),
           ("median_recon_err", "Procrustes median (mm)", ".1f"),
           ("mean_pckh", "PCKh", ".3f"),
           ("mean_err_quat", "rotation error (rad)", ".3f"))


def select_variants(table, names=None):
    """{name: Variant} of `table`, all or those named, in the table's order."""
    variants = reproduce.TABLES[table].variants
    known = registry.Registry(f"variant of {table}", variants)
    try:
        for name in names or ():
            known.check(name, "--variants")
    except registry.UnknownNameError as error:
        raise RequestError(str(error)) from None
    return {name: v for name, v in variants.items() if names is None or name in names}


def variant_configs(output_dir, selected, budget, body_model):
    """{name: validated config}; a budget that makes a bad config fails before any work."""
    for key in ("steps", "num_train", "num_test"):
        if getattr(budget, key) < 1:
            raise RequestError(f"--{key} must be at least 1, got {getattr(budget, key)}")
    try:
        return {name: base.validate(reproduce.variant_config(
            variant, budget, datasets.variant_root(output_dir, variant), body_model))
            for name, variant in selected.items()}
    except ValueError as error:
        raise RequestError(f"the budget makes an invalid config: {error}") from None


def train_run(config, run_dir, steps, progress, validate=True):
    """Trains (or resumes) the run in `run_dir` to `steps`, with held-out validation
    when `validate`; returns {'steps', 'steps_this_call', 'train_seconds'}."""
    import keras  # Here: TensorFlow must load after the command quietened it.

    keras.backend.clear_session()  # Frees the previous variant's model; names start afresh.
    start = time.perf_counter()
    trainer = training.Trainer(config, run_dir, progress=progress)
    first_step = trainer.step
    trainer.train(max_steps=steps, on_step=evaluation.Validator(trainer) if validate else None)
    return {"steps": trainer.step, "steps_this_call": trainer.step - first_step,
            "train_seconds": time.perf_counter() - start}


def train_and_evaluate(config, run_dir, steps, progress, test_roots=None):
    """Trains (or resumes) the run in `run_dir` to `steps`, evaluates it; returns the result.

    See `evaluate_run` for `test_roots`.
    """
    trained = train_run(config, run_dir, steps, progress)
    start = time.perf_counter()
    metrics, num_test = evaluate_run(config, run_dir, test_roots)
    return {"metrics": metrics, "num_test": num_test, **trained,
            "eval_seconds": time.perf_counter() - start}


def baseline_result(config, run_dir, test_roots=None):
    """The untrained network's result: it predicts the latent mean whatever the input."""
    start = time.perf_counter()
    metrics, num_test = evaluate_run(config, run_dir, test_roots, baseline=True)
    return {"metrics": metrics, "num_test": num_test, "steps": 0, "steps_this_call": 0,
            "train_seconds": 0.0, "eval_seconds": time.perf_counter() - start}


def evaluate_run(config, run_dir, test_roots=None, baseline=False):
    """(metrics, held-out samples) of the run on the held-out split.

    Without `test_roots` the metrics are {key: value} on the config's own
    data; with `test_roots` ({name: dataset root}) they are {name: {key:
    value}}, one evaluation per dataset written as eval_test_<name>.
    """
    roots = test_roots or {"": config.runtime.dataset_root}
    summaries = evaluation.run_evaluations(config, run_dir, "test", roots, baseline)
    metrics = {name: {key: summary[key] for key, _, _ in METRICS}
               for name, summary in summaries.items()}
    num_test = next(iter(summaries.values()))["num_samples"]
    return (metrics if test_roots else metrics[""]), num_test
