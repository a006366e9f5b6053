"""Reproduces one of the paper's ablation tables at reduced scale on synthetic data.

    nbf-reproduce --table=table3 [--output_dir=reproduce_output] [--variants=lat,lat_3d]
        [--input_size=64 --steps=2000 --batch_size=16 --num_train=2000 --num_test=200
         --lr=3e-4 --lr_policy=poly]
    nbf-reproduce --table=table2 [--segmentation_run=DIR]

1. Data: one synthetic dataset in <output_dir>/data (--num_train training and
   --num_test held-out samples), reused while its dataset.json matches. Table
   1's `joints24` needs 24 landmarks stored, so it reads the same samples
   written with 24 landmarks (<output_dir>/data_landmarks24). Table 4 keeps
   the samples and re-flags the training list: `lists/train_3d020_latent.txt`
   gives 20% of the samples latent flag 1 (3D labels), nested subsets of one
   seeded permutation, so 5% of the samples are inside the 10%, and so on.
2. Every variant (configs/reproduce.py) is trained with the same budget in
   <output_dir>/<table>/<variant>/run and evaluated on the held-out split;
   its result is cached in <output_dir>/<table>/<variant>/result.json. An
   interrupted call continues where it stopped (the Trainer resumes a run),
   and a repeated call trains nothing. A variant identical to one of another
   table in the same directory (Table 4's 100% is Table 3's L_lat + L_3D +
   L_2D: same config, data and steps) reuses that run's result.
3. The untrained network, which predicts the latent mean, is evaluated too:
   the baseline a variant that learns has to beat.
4. Writes <output_dir>/<table>.md, .csv and .png (our 3D joint error beside
   the paper's), and <table>_curves.png when the runs hold validation.csv.

The budget is recorded in <output_dir>/budget.json; a call with another
budget on the same directory is refused, so one table never mixes budgets.

Table 2 (fitting on true against predicted part maps) first needs a part
segmenter: the run given by --segmentation_run, or one trained on the
table's data with `reproduce.SegmenterBudget` in
<output_dir>/table2/segmenter/run (the recipe, or the given run, is recorded
in <output_dir>/table2/segmenter/budget.json and a different one refused).
It is evaluated on the held-out split against two baselines (all background;
the true silhouette filled with the largest part), cached in
<output_dir>/table2/segmenter/result.json. Its maps, made as inference hands
them to stage 2, form <output_dir>/data_predicted (`serving.predicted_data`),
regenerated when the run's checkpoint changes. The variant `gt` trains on
`data`, `predicted` on `data_predicted`; each is evaluated on the held-out
split of both (eval_test_gt and eval_test_predicted in its run directory).
"""
import csv
import dataclasses
import glob
import io
import json
import os
import time

import numpy as np
from absl import app, flags, logging

from neural_body_fitting import evaluation, serving, training
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.cli import common
from neural_body_fitting.configs import base, reproduce
from neural_body_fitting.data import layout, synthesis
from neural_body_fitting.training import runs
from neural_body_fitting.utils import files

_DEFAULTS = reproduce.Budget()
TABLE = flags.DEFINE_enum("table", None, sorted(reproduce.TABLES), "The table to reproduce.",
                          required=True)
OUTPUT_DIR = flags.DEFINE_string("output_dir", "reproduce_output",
                                 "Data, runs, cached results and the tables.")
VARIANTS = flags.DEFINE_list("variants", None, "Only these variants of the table (default: all).")
SMPL_MODEL = common.define_smpl_model_flag()
INPUT_SIZE = flags.DEFINE_integer("input_size", _DEFAULTS.input_size, "Input side (px).")
STEPS = flags.DEFINE_integer("steps", _DEFAULTS.steps, "Training steps per variant.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", _DEFAULTS.batch_size, "Batch size.")
NUM_TRAIN = flags.DEFINE_integer("num_train", _DEFAULTS.num_train, "Training samples.")
NUM_TEST = flags.DEFINE_integer("num_test", _DEFAULTS.num_test, "Held-out samples.")
LR = flags.DEFINE_float("lr", _DEFAULTS.lr, "Learning rate.")
LR_POLICY = flags.DEFINE_enum("lr_policy", _DEFAULTS.lr_policy, base.LR_POLICIES,
                              "Learning-rate schedule (poly decays to 0 over --steps).")
SEGMENTATION_RUN = flags.DEFINE_string(
    "segmentation_run", None, "Table 2: the segmentation run whose part maps the fitting "
    "network gets (default: train one with the recipe of configs/reproduce.py).")

DATA_SEED = 0
MIRROR_FRACTION = 0.5
# A second generator process pays for its start-up (it loads TensorFlow and
# the body model, ~10 s) only from about this many samples on.
SAMPLES_FOR_TWO_WORKERS = 100
FLAG_SEED = 4  # Seeds the permutation that chooses Table 4's samples with 3D labels.
BASELINE = "latent_mean"
PREDICTED_ROOT = "data_predicted"
# Table 2's held-out sets: name -> title.
TEST_DATA = {"gt": "ground-truth maps", "predicted": "predicted maps"}
# (segmentation summary key, column title) of Table 2's segmenter table.
SEGMENTATION_METRICS = (("mean_iou", "mean IoU"),
                        ("mean_iou_without_background", "mean IoU without background"),
                        ("pixel_accuracy", "pixel accuracy"), ("mean_f1", "mean F1"))
# (evaluation summary key, column title, format).
METRICS = (("mean_err_joints3D", "3D joint error (mm)", ".1f"),
           ("mean_recon_err", "Procrustes mean (mm)", ".1f"),
           ("median_recon_err", "Procrustes median (mm)", ".1f"),
           ("mean_pckh", "PCKh", ".3f"),
           ("mean_err_quat", "rotation error (rad)", ".3f"))


class RequestError(ValueError):
    """A request the command refuses: unknown variants, or another budget on the same directory."""


def select_variants(table, names=None):
    """{name: Variant} of `table`, all or those named, in the table's order."""
    variants = reproduce.TABLES[table].variants
    unknown = sorted(set(names or ()) - set(variants))
    if unknown:
        raise RequestError(f"{table}: unknown variants {unknown}; known: {list(variants)}")
    return {name: v for name, v in variants.items() if names is None or name in names}


def check_budget(output_dir, budget, body_model_name):
    """Records the budget in <output_dir>/budget.json, or refuses one that differs from it."""
    check_recorded(os.path.join(output_dir, "budget.json"),
                   {**dataclasses.asdict(budget), "body_model": body_model_name})


def check_recorded(path, wanted):
    """Records the dict `wanted` in `path`, or refuses one that differs from the recorded one."""
    if os.path.isfile(path):
        with open(path) as stream:
            recorded = json.load(stream)
        differing = {key: (recorded.get(key), value) for key, value in wanted.items()
                     if recorded.get(key) != value}
        if differing:
            changes = "; ".join(f"{key}: {old!r} there, {new!r} here"
                                for key, (old, new) in differing.items())
            raise RequestError(f"{path}: this output directory holds results of another "
                               f"budget ({changes}); use another --output_dir")
        return
    files.atomic_write(path, json.dumps(wanted, indent=2))


def dataset_root(output_dir, num_landmarks):
    return os.path.join(output_dir, "data" if num_landmarks == 14 else
                        f"data_landmarks{num_landmarks}")


def variant_root(output_dir, variant):
    """The data a variant trains on: the predicted part maps, or the synthetic dataset."""
    if variant.predicted_parts:
        return os.path.join(output_dir, PREDICTED_ROOT)
    return dataset_root(output_dir, variant.num_landmarks)


def variant_configs(output_dir, selected, budget, body_model):
    """{name: validated config}; a budget that makes a bad config fails before any work."""
    for key in ("steps", "num_train", "num_test"):
        if getattr(budget, key) < 1:
            raise RequestError(f"--{key} must be at least 1, got {getattr(budget, key)}")
    try:
        return {name: base.validate(reproduce.variant_config(
            variant, budget, variant_root(output_dir, variant), body_model))
            for name, variant in selected.items()}
    except ValueError as error:
        raise RequestError(f"the budget makes an invalid config: {error}") from None


def ensure_dataset(root, budget, body_model, num_landmarks, progress):
    """Generates the dataset in `root` unless the one there has these settings."""
    counts = {"train": budget.num_train, "test": budget.num_test}
    wanted = {"counts": counts, "seed": DATA_SEED, "mirror_fraction": MIRROR_FRACTION,
              "latent_fraction": 1.0, "num_landmarks": num_landmarks,
              "body_model": resolve_body_model(body_model).name, "complete": True}
    info = layout.read_dataset_info(root)
    if all(info.get(key) == value for key, value in wanted.items()):
        print(f"Using the dataset in {root}")
        return
    start = time.perf_counter()
    # The 24-part label map is always written, and from it the pipeline makes
    # every part encoding, so no extra colour maps are needed.
    synthesis.generate_dataset(root, counts, seed=DATA_SEED, body_model=body_model,
                               mirror_fraction=MIRROR_FRACTION, num_landmarks=num_landmarks,
                               workers=2 if sum(counts.values()) >= SAMPLES_FOR_TWO_WORKERS
                               else 1, progress=progress, overwrite=True)
    print(f"Generated {sum(counts.values())} samples in {time.perf_counter() - start:.0f} s "
          f"-> {root}")


def write_fraction_lists(root, fractions):
    """Writes the training list re-flagged for each fraction of samples with 3D labels.

    One seeded permutation ranks the samples; a fraction f flags the first
    round(f * N), so a smaller fraction's samples are inside every larger one's.
    """
    entries = layout.read_split_list(root, "train")
    rank = np.random.default_rng(FLAG_SEED).permutation(len(entries))
    for fraction in fractions:
        flagged = rank < round(fraction * len(entries))
        layout.write_split_list(root, reproduce.fraction_split(fraction),
                                [(sample_id, flag) for (sample_id, _), flag in
                                 zip(entries, flagged)])


def prepare_data(output_dir, variants, budget, body_model, progress):
    """The datasets and training lists the variants read."""
    for count in sorted({v.num_landmarks for v in variants.values()}):
        ensure_dataset(dataset_root(output_dir, count), budget, body_model, count, progress)
    fractions = sorted({v.fraction_3d for v in variants.values()} - {1.0})
    if fractions:
        write_fraction_lists(dataset_root(output_dir, 14), fractions)


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


def train_or_reuse(output_dir, config, run_dir, steps, progress, test_roots=None):
    """The result of the identical run of another table if there is one, else of training."""
    identical = find_identical_run(output_dir, config, steps, run_dir)
    if identical:
        return reused_result(identical, config, test_roots)
    return train_and_evaluate(config, run_dir, steps, progress, test_roots)


def find_identical_run(output_dir, config, steps, run_dir):
    """The run directory of another table's variant trained exactly as `config` would, or None.

    Identical: the recorded config differs in no key (operational ones
    included), the training list has the same fingerprint, the run was never
    resumed with changes, and its result is for `steps` steps.
    """
    data = runs.dataset_identity(config.runtime.dataset_root, config.runtime.train_split)
    for path in sorted(glob.glob(os.path.join(output_dir, "*", "*", "result.json"))):
        candidate = os.path.join(os.path.dirname(path), "run")
        if os.path.abspath(candidate) == os.path.abspath(run_dir):
            continue
        record = runs.read_record(candidate)
        if record is None or record["history"]:
            continue
        with open(path) as stream:
            result = json.load(stream)
        differences = runs.config_differences(record["config"], config,
                                              selected=lambda key: True)
        if (not differences and result.get("steps") == steps
                and record["dataset"].get("fingerprint") == data["fingerprint"]):
            return candidate
    return None


def reused_result(source_run, config, test_roots=None):
    """The result of the identical run `source_run`, marked as reused.

    With `test_roots` (Table 2) the run is evaluated on those datasets (its
    evaluations go beside its own, as eval_test_<name>).
    """
    start = time.perf_counter()
    with open(os.path.join(os.path.dirname(source_run), "result.json")) as stream:
        result = json.load(stream)
    if test_roots:
        result["metrics"], result["num_test"] = evaluate_run(config, source_run, test_roots)
    return {**result, "steps_this_call": 0, "train_seconds": 0.0,
            "eval_seconds": time.perf_counter() - start,
            "reused_from": os.path.abspath(source_run)}


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


def cached(path, compute, *args, key=None):
    """(result, whether cached): the result in `path`, else `compute(*args)`'s, written there.

    With `key` (a JSON-able dict of what the result depends on) a stored
    result made for another key is computed again.
    """
    if os.path.isfile(path):
        with open(path) as stream:
            result = json.load(stream)
        if key is None or result.get("key") == key:
            return result, True
    result = compute(*args)
    if key is not None:
        result = {**result, "key": key}
    files.atomic_write(path, json.dumps(result, indent=2, allow_nan=False))
    return result, False


def segmentation_run_config(run_dir, data_root):
    """The recorded config of the segmentation run in `run_dir`, on the data in `data_root`."""
    try:
        config = runs.load_run_config(run_dir, stage="segmentation")
    except (ValueError, FileNotFoundError) as error:
        raise RequestError(f"--segmentation_run: {error}") from None
    if config.model.segmenter.num_classes != 13:
        raise RequestError(f"--segmentation_run: {run_dir} has "
                           f"{config.model.segmenter.num_classes} classes; Table 2 needs a "
                           "segmentation run of the 12 parts (13 classes)")
    config.runtime.dataset_root = data_root
    config.runtime.eval_split = "test"
    return config


def latest_checkpoint(run_dir):
    """The file name of the run's latest checkpoint ('ckpt-<step>'), or None."""
    import tensorflow as tf  # Here: TensorFlow must load after the command quietened it.

    path = tf.train.latest_checkpoint(run_dir)
    return os.path.basename(path) if path else None


def train_segmenter(config, run_dir, steps, progress):
    """Trains (or resumes) Table 2's segmenter in `run_dir` to `steps`.

    Returns {'steps_this_call', 'train_seconds'}.
    """
    # The Trainer saves a finished run as ckpt-<steps>; then building it (and
    # RefineNet) only to find nothing to train is skipped.
    if latest_checkpoint(run_dir) == f"ckpt-{steps}":
        return {"steps_this_call": 0, "train_seconds": 0.0}
    trained = train_run(config, run_dir, steps, progress, validate=False)
    return {key: trained[key] for key in ("steps_this_call", "train_seconds")}


def segmenter_result(model, config, run_dir, trained):
    """The segmenter's and the two baselines' summaries on the held-out split."""
    start = time.perf_counter()
    segmentation = evaluation.segmentation
    dataset, _ = evaluation.segmentation_evaluation_dataset(config, "test")
    num_classes = config.model.segmenter.num_classes
    summaries = {
        "network": segmentation.evaluate_segmentation(model, dataset, num_classes)[0],
        "largest_part": evaluation.run_largest_part_baseline(config, "test"),
        "all_background": segmentation.evaluate_segmentation(
            segmentation.background_model(num_classes), dataset, num_classes)[0],
    }
    return {"summaries": summaries, "segmenter": config.model.segmenter.network,
            "input_size": config.data.input_size, "run": os.path.abspath(run_dir), **trained,
            "eval_seconds": time.perf_counter() - start}


def prepare_segmenter(output_dir, segmentation_run, segmenter_budget, progress):
    """Table 2's segmenter and predicted data; returns (its result, whether cached, provenance).

    The segmenter is `segmentation_run`, else the one trained with
    `segmenter_budget`; the provenance (run directory and checkpoint) keys
    its cached evaluation and the predicted dataset.
    """
    directory = os.path.join(output_dir, "table2", "segmenter")
    data_root = dataset_root(output_dir, 14)
    if segmentation_run:
        run_dir, recipe = segmentation_run, {"segmentation_run": os.path.abspath(segmentation_run)}
        config = segmentation_run_config(run_dir, data_root)
    else:
        run_dir, recipe = os.path.join(directory, "run"), dataclasses.asdict(segmenter_budget)
        config = base.validate(reproduce.segmenter_config(segmenter_budget, data_root))
    check_recorded(os.path.join(directory, "budget.json"), recipe)
    trained = ({"steps_this_call": 0, "train_seconds": 0.0} if segmentation_run else
               train_segmenter(config, run_dir, segmenter_budget.steps, progress))
    checkpoint = latest_checkpoint(run_dir)
    if checkpoint is None:
        raise RequestError(f"--segmentation_run: {run_dir} holds no checkpoint; train it first")
    provenance = {"segmentation_run": os.path.abspath(run_dir), "checkpoint": checkpoint}
    predicted_root = os.path.join(output_dir, PREDICTED_ROOT)
    data_info = serving.predicted_data.predicted_dataset_info(data_root, provenance)
    model = None
    if not serving.predicted_data.is_up_to_date(predicted_root, data_info):
        model = evaluation.load_segmentation_run_model(config, run_dir)
        start = time.perf_counter()
        serving.write_predicted_dataset(model, data_root, predicted_root, provenance, progress)
        print(f"Predicted the part maps of {predicted_root} in "
              f"{time.perf_counter() - start:.0f} s")

    def evaluate():
        return segmenter_result(model or evaluation.load_segmentation_run_model(config, run_dir),
                                config, run_dir, trained)

    result, was_cached = cached(os.path.join(directory, "result.json"), evaluate,
                                key=provenance)
    return result, was_cached, provenance


def describe_time(name, result, was_cached):
    if "reused_from" in result:
        return f"{name}: the identical run {result['reused_from']}"
    steps, seconds = result["steps_this_call"], result["train_seconds"]
    trained = f"trained {steps} steps in {seconds:.0f} s ({seconds / steps:.2f} s/step), " \
        if steps else ""
    text = f"{trained}evaluated in {result['eval_seconds']:.0f} s"
    return f"{name}: cached ({text} when made)" if was_cached else f"{name}: {text}"


def describe_budget(budget, body_model_name):
    return (f"{budget.steps} steps of batch {budget.batch_size} at {budget.input_size} px, "
            f"lr {budget.lr:g} ({budget.lr_policy}), {budget.num_train} training samples, "
            f"body model {body_model_name}")


def columns(table, selected, metrics=METRICS):
    """[(key, title, format)]: each of `metrics`, the paper's beside it where it has one.

    A table evaluated on both part maps (Table 2) has each metric on each
    held-out set instead, keyed '<set>_<metric>' (`row_values`).
    """
    if reproduce.TABLES[table].cross_evaluation:
        return [(f"{data}_{key}", f"{data_title}: {title}", form)
                for data, data_title in TEST_DATA.items() for key, title, form in metrics]
    found = []
    for key, title, form in metrics:
        found.append((key, title, form))
        if any(key in variant.paper for variant in selected.values()):
            found.append((f"paper_{key}", f"paper: {title}", form))
    return found


def row_values(metrics):
    """A result's metrics as one row: {key: value}, or '<set>_<key>' for several held-out sets."""
    if all(isinstance(value, dict) for value in metrics.values()):
        return {f"{data}_{key}": value for data, values in metrics.items()
                for key, value in values.items()}
    return metrics


def rows(selected, results):
    """[(variant name, the paper's row, {column key: value})], the baseline last."""
    labels = {name: variant.label for name, variant in selected.items()}
    labels[BASELINE] = "untrained network (predicts the latent mean)"
    found = []
    for name, label in labels.items():
        paper = selected[name].paper if name in selected else {}
        values = {**row_values(results[name]["metrics"]),
                  **{f"paper_{k}": v for k, v in paper.items()}}
        found.append((name, label, values))
    return found


def markdown_table(header, lines):
    """A markdown table: `header` [title], `lines` [[cell]]; the first two columns text."""
    return ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2),
            *("| " + " | ".join(cells) + " |" for cells in lines)]


def markdown(table, selected, results, budget, body_model_name, segmenter=None):
    """The table's report; `segmenter` (Table 2) adds the segmenter against its baselines."""
    definition = reproduce.TABLES[table]
    # Table 2 shows the 2x2 table of the first two metrics; its csv has all.
    cols = columns(table, selected, METRICS[:2] if definition.cross_evaluation else METRICS)
    num_test = results[BASELINE]["num_test"]
    lines = [f"# {definition.title}", "",
             f"Ours: synthetic data at reduced scale ({describe_budget(budget, body_model_name)}), "
             f"evaluated on {num_test} held-out synthetic samples. The paper's numbers "
             f"({definition.paper_source}) are on real data with the real SMPL model: anchors "
             "for the ordering of the variants, not targets.", ""]
    lines += markdown_table(
        ["variant", "paper's row" if not definition.cross_evaluation else "trained on",
         *(title for _, title, _ in cols)],
        [[name, label, *(format(values[key], form) if key in values else "–"
                         for key, _, form in cols)]
         for name, label, values in rows(selected, results)])
    if segmenter is not None:
        lines += ["", *segmenter_markdown(segmenter)]
    return "\n".join(lines) + "\n"


def segmenter_rows(segmenter):
    """[(name, description, summary)]: the segmenter and its two baselines."""
    summaries = segmenter["summaries"]
    return [("network", f"{segmenter['segmenter']} at {segmenter['input_size']} px",
             summaries["network"]),
            ("largest_part", f"true silhouette filled with part "
             f"{summaries['largest_part']['largest_part']}", summaries["largest_part"]),
            ("all_background", "background everywhere", summaries["all_background"])]


def segmenter_markdown(segmenter):
    num_test = segmenter["summaries"]["network"]["num_samples"]
    return [f"## The segmenter on the {num_test} held-out samples", "",
            f"Run: {segmenter['run']}. The largest part is the one covering most pixels of "
            "the training split: that baseline finds the person perfectly and separates no "
            "parts.", "",
            *markdown_table(["prediction", "what", *(title for _, title in SEGMENTATION_METRICS)],
                            [[name, what, *(f"{summary[key]:.3f}"
                                            for key, _ in SEGMENTATION_METRICS)]
                             for name, what, summary in segmenter_rows(segmenter)])]


def csv_text(table, selected, results):
    cols = columns(table, selected)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["variant", "label", *(key for key, _, _ in cols), "steps",
                     "train_seconds", "eval_seconds"])
    for name, label, values in rows(selected, results):
        result = results[name]
        writer.writerow([name, label, *(values.get(key, "") for key, _, _ in cols),
                         result["steps"], f"{result['train_seconds']:.1f}",
                         f"{result['eval_seconds']:.1f}"])
    return text.getvalue()


def segmenter_csv_text(segmenter):
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["prediction", "description", "num_samples",
                     *(key for key, _ in SEGMENTATION_METRICS)])
    for name, what, summary in segmenter_rows(segmenter):
        writer.writerow([name, what, summary["num_samples"],
                         *(summary[key] for key, _ in SEGMENTATION_METRICS)])
    return text.getvalue()


def plot_bars(path, table, selected, results):
    """Our 3D joint error per variant (beside the paper's, or per held-out set for Table 2),
    the untrained network as a line."""
    key = "mean_err_joints3D"
    names = list(selected)
    x = np.arange(len(names))
    figure = evaluation.plots.new_figure(2 + 1.1 * len(names))
    axes = figure.add_subplot()
    if reproduce.TABLES[table].cross_evaluation:
        for offset, (data, title) in zip((-0.2, 0.2), TEST_DATA.items()):
            axes.bar(x + offset, [results[n]["metrics"][data][key] for n in names], 0.4,
                     label=f"ours, evaluated on {title}")
        baseline = results[BASELINE]["metrics"]["gt"][key]
    else:
        axes.bar(x - 0.2, [results[n]["metrics"][key] for n in names], 0.4,
                 label="ours (synthetic data, reduced scale)")
        with_paper = [i for i, name in enumerate(names) if key in selected[name].paper]
        axes.bar(x[with_paper] + 0.2, [selected[names[i]].paper[key] for i in with_paper], 0.4,
                 label="paper (real data)")
        baseline = results[BASELINE]["metrics"][key]
    axes.axhline(baseline, color="grey", linestyle="--", label="ours, untrained (latent mean)")
    axes.set_xticks(x, names)
    axes.set_ylabel("3D joint error (mm)")
    axes.set_title(reproduce.TABLES[table].title)
    axes.legend(fontsize="small")
    evaluation.plots.save_figure(figure, path)


def write_reports(table, output_dir, selected, results, budget, body_model_name, run_dirs,
                  segmenter=None):
    """<table>.md, .csv, .png, with validation curves <table>_curves.png, and with the
    `segmenter` result (Table 2) <table>_segmenter.csv."""
    prefix = os.path.join(output_dir, table)
    files.atomic_write(f"{prefix}.md", markdown(table, selected, results, budget,
                                                body_model_name, segmenter))
    files.atomic_write(f"{prefix}.csv", csv_text(table, selected, results))
    if segmenter is not None:
        files.atomic_write(f"{prefix}_segmenter.csv", segmenter_csv_text(segmenter))
    plot_bars(f"{prefix}.png", table, selected, results)
    plots = evaluation.plots
    plots.plot_learning_curves(f"{prefix}_curves.png", plots.run_curves(run_dirs),
                               f"{reproduce.TABLES[table].title}: held-out error while training")
    print(f"Wrote {prefix}.md, .csv and .png")


def reproduce_table(table, output_dir, budget, variants=None, body_model=None, progress=True,
                    segmentation_run=None, segmenter_budget=reproduce.SegmenterBudget()):
    """Trains, evaluates and tabulates the variants of `table`; returns {variant: result}.

    `variants` restricts the table to some of its variants; the result of
    `BASELINE` (the untrained network) is included. For Table 2 the part
    maps are predicted by `segmentation_run`, or by a segmenter trained with
    `segmenter_budget`, whose result is included as 'segmenter'. See the
    module docstring for what is written where.
    """
    start = time.perf_counter()
    selected = select_variants(table, variants)
    configs = variant_configs(output_dir, selected, budget, body_model)
    body_model_name = resolve_body_model(body_model).name
    check_budget(output_dir, budget, body_model_name)
    prepare_data(output_dir, selected, budget, body_model, progress)
    results, times = {}, []
    segmenter, test_roots, key = None, None, None
    if reproduce.TABLES[table].cross_evaluation:
        segmenter, was_cached, key = prepare_segmenter(output_dir, segmentation_run,
                                                       segmenter_budget, progress)
        times.append(describe_time("segmenter", segmenter, was_cached))
        test_roots = {"gt": dataset_root(output_dir, 14),
                      "predicted": os.path.join(output_dir, PREDICTED_ROOT)}

    def own_run_dir(name):
        return os.path.join(output_dir, table, name, "run")

    def run_dir(name):
        """Where the variant's run is: its own, or the identical run it reused."""
        return results[name].get("reused_from") or own_run_dir(name)

    def result_path(name):
        return os.path.join(output_dir, table, name, "result.json")

    for name, config in configs.items():
        results[name], was_cached = cached(result_path(name), train_or_reuse, output_dir,
                                           config, own_run_dir(name), budget.steps, progress,
                                           test_roots, key=key)
        times.append(describe_time(name, results[name], was_cached))
        print(f"{table}/{times[-1]}")
    first = next(iter(configs))  # The baseline needs a run's record and statistics.
    results[BASELINE], was_cached = cached(result_path(BASELINE), baseline_result,
                                           configs[first], run_dir(first), test_roots, key=key)
    times.append(describe_time(BASELINE, results[BASELINE], was_cached))
    write_reports(table, output_dir, selected, results, budget, body_model_name,
                  {name: run_dir(name) for name in configs}, segmenter)
    print(f"{table}: total wall time {time.perf_counter() - start:.0f} s")
    print("\n".join(f"  {line}" for line in times))
    if segmenter is not None:
        results["segmenter"] = segmenter
    return results


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keep the console to the command's own output.
    budget = reproduce.Budget(
        input_size=INPUT_SIZE.value, steps=STEPS.value, batch_size=BATCH_SIZE.value,
        num_train=NUM_TRAIN.value, num_test=NUM_TEST.value, lr=LR.value,
        lr_policy=LR_POLICY.value)
    try:
        reproduce_table(TABLE.value, OUTPUT_DIR.value, budget, VARIANTS.value, SMPL_MODEL.value,
                        segmentation_run=SEGMENTATION_RUN.value)
    except RequestError as error:
        raise app.UsageError(str(error))


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
