"""Reproduces one of the paper's ablation tables at reduced scale on synthetic data.

    nbf-reproduce --table=table3 [--output_dir=reproduce_output] [--variants=lat,lat_3d]
        [--input_size=64 --steps=2000 --batch_size=16 --num_train=2000 --num_test=200
         --lr=3e-4 --lr_policy=poly]

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

from neural_body_fitting import evaluation, training
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.cli import common
from neural_body_fitting.configs import base, reproduce
from neural_body_fitting.data import layout, synthesis
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

DATA_SEED = 0
MIRROR_FRACTION = 0.5
# A second generator process pays for its start-up (it loads TensorFlow and
# the body model, ~10 s) only from about this many samples on.
SAMPLES_FOR_TWO_WORKERS = 100
FLAG_SEED = 4  # Seeds the permutation that chooses Table 4's samples with 3D labels.
BASELINE = "latent_mean"
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
    path = os.path.join(output_dir, "budget.json")
    wanted = {**dataclasses.asdict(budget), "body_model": body_model_name}
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


def variant_configs(output_dir, selected, budget, body_model):
    """{name: validated config}; a budget that makes a bad config fails before any work."""
    for key in ("steps", "num_train", "num_test"):
        if getattr(budget, key) < 1:
            raise RequestError(f"--{key} must be at least 1, got {getattr(budget, key)}")
    try:
        return {name: base.validate(reproduce.variant_config(
            variant, budget, dataset_root(output_dir, variant.num_landmarks), body_model))
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


def train_and_evaluate(config, run_dir, steps, progress):
    """Trains (or resumes) the run in `run_dir` to `steps`, evaluates it; returns the result."""
    import keras  # Here: TensorFlow must load after the command quietened it.

    keras.backend.clear_session()  # Frees the previous variant's model; names start afresh.
    start = time.perf_counter()
    trainer = training.Trainer(config, run_dir, progress=progress)
    first_step = trainer.step
    trainer.train(max_steps=steps, on_step=evaluation.Validator(trainer))
    trained = time.perf_counter()
    summary = evaluation.run_evaluation(config, run_dir, "test")
    return {"metrics": {key: summary[key] for key, _, _ in METRICS},
            "num_test": summary["num_samples"], "steps": trainer.step,
            "steps_this_call": trainer.step - first_step,
            "train_seconds": trained - start, "eval_seconds": time.perf_counter() - trained}


def find_identical_run(output_dir, config, steps, run_dir):
    """The run directory of another table's variant trained exactly as `config` would, or None.

    Identical: the recorded config differs in no key (operational ones
    included), the training list has the same fingerprint, the run was never
    resumed with changes, and its result is for `steps` steps.
    """
    data = training.runs.dataset_identity(config.dataset_root, config.train_split)
    for path in sorted(glob.glob(os.path.join(output_dir, "*", "*", "result.json"))):
        candidate = os.path.join(os.path.dirname(path), "run")
        if os.path.abspath(candidate) == os.path.abspath(run_dir):
            continue
        record = training.runs.read_record(candidate)
        if record is None or record["history"]:
            continue
        with open(path) as stream:
            result = json.load(stream)
        differences = training.runs.config_differences(record["config"], config,
                                                       keys=set(record["config"]) | set(config))
        if (not differences and result.get("steps") == steps
                and record["dataset"].get("fingerprint") == data["fingerprint"]):
            return candidate
    return None


def reused_result(source_run):
    """The result of the identical run `source_run`, marked as reused."""
    with open(os.path.join(os.path.dirname(source_run), "result.json")) as stream:
        result = json.load(stream)
    return {**result, "steps_this_call": 0, "train_seconds": 0.0, "eval_seconds": 0.0,
            "reused_from": os.path.abspath(source_run)}


def baseline_result(config, run_dir):
    """The untrained network's result: it predicts the latent mean whatever the input."""
    start = time.perf_counter()
    summary = evaluation.run_evaluation(config, run_dir, "test", baseline=True)
    return {"metrics": {key: summary[key] for key, _, _ in METRICS},
            "num_test": summary["num_samples"], "steps": 0, "steps_this_call": 0,
            "train_seconds": 0.0, "eval_seconds": time.perf_counter() - start}


def cached(path, compute, *args):
    """(result, whether cached): the result in `path`, else `compute(*args)`'s, written there."""
    if os.path.isfile(path):
        with open(path) as stream:
            return json.load(stream), True
    result = compute(*args)
    files.atomic_write(path, json.dumps(result, indent=2, allow_nan=False))
    return result, False


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


def columns(selected):
    """[(key, title, format)]: each metric of ours, the paper's beside it where it has one."""
    found = []
    for key, title, form in METRICS:
        found.append((key, title, form))
        if any(key in variant.paper for variant in selected.values()):
            found.append((f"paper_{key}", f"paper: {title}", form))
    return found


def rows(selected, results):
    """[(variant name, the paper's row, {column key: value})], the baseline last."""
    labels = {name: variant.label for name, variant in selected.items()}
    labels[BASELINE] = "untrained network (predicts the latent mean)"
    found = []
    for name, label in labels.items():
        paper = selected[name].paper if name in selected else {}
        values = {**results[name]["metrics"], **{f"paper_{k}": v for k, v in paper.items()}}
        found.append((name, label, values))
    return found


def markdown(table, selected, results, budget, body_model_name):
    definition = reproduce.TABLES[table]
    cols = columns(selected)
    num_test = results[BASELINE]["num_test"]
    lines = [f"# {definition.title}", "",
             f"Ours: synthetic data at reduced scale ({describe_budget(budget, body_model_name)}), "
             f"evaluated on {num_test} held-out synthetic samples. The paper's numbers "
             f"({definition.paper_source}) are on real data with the real SMPL model: anchors "
             "for the ordering of the variants, not targets.", "",
             "| variant | paper's row | " + " | ".join(title for _, title, _ in cols) + " |",
             "|---|---|" + "---:|" * len(cols)]
    for name, label, values in rows(selected, results):
        cells = [format(values[key], form) if key in values else "–" for key, _, form in cols]
        lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_text(selected, results):
    cols = columns(selected)
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


def plot_bars(path, table, selected, results):
    """Our 3D joint error beside the paper's per variant, the untrained network as a line."""
    key = "mean_err_joints3D"
    names = list(selected)
    x = np.arange(len(names))
    figure = evaluation.plots.new_figure(2 + 1.1 * len(names))
    axes = figure.add_subplot()
    axes.bar(x - 0.2, [results[n]["metrics"][key] for n in names], 0.4,
             label="ours (synthetic data, reduced scale)")
    with_paper = [i for i, name in enumerate(names) if key in selected[name].paper]
    axes.bar(x[with_paper] + 0.2, [selected[names[i]].paper[key] for i in with_paper], 0.4,
             label="paper (real data)")
    axes.axhline(results[BASELINE]["metrics"][key], color="grey", linestyle="--",
                 label="ours, untrained (latent mean)")
    axes.set_xticks(x, names)
    axes.set_ylabel("3D joint error (mm)")
    axes.set_title(reproduce.TABLES[table].title)
    axes.legend(fontsize="small")
    evaluation.plots.save_figure(figure, path)


def write_reports(table, output_dir, selected, results, budget, body_model_name, run_dirs):
    """<table>.md, .csv, .png and, with validation curves, <table>_curves.png."""
    prefix = os.path.join(output_dir, table)
    files.atomic_write(f"{prefix}.md", markdown(table, selected, results, budget,
                                                body_model_name))
    files.atomic_write(f"{prefix}.csv", csv_text(selected, results))
    plot_bars(f"{prefix}.png", table, selected, results)
    plots = evaluation.plots
    plots.plot_learning_curves(f"{prefix}_curves.png", plots.run_curves(run_dirs),
                               f"{reproduce.TABLES[table].title}: held-out error while training")
    print(f"Wrote {prefix}.md, .csv and .png")


def reproduce_table(table, output_dir, budget, variants=None, body_model=None, progress=True):
    """Trains, evaluates and tabulates the variants of `table`; returns {variant: result}.

    `variants` restricts the table to some of its variants; the result of
    `BASELINE` (the untrained network) is included. See the module docstring
    for what is written where.
    """
    start = time.perf_counter()
    selected = select_variants(table, variants)
    configs = variant_configs(output_dir, selected, budget, body_model)
    body_model_name = resolve_body_model(body_model).name
    check_budget(output_dir, budget, body_model_name)
    prepare_data(output_dir, selected, budget, body_model, progress)
    results, times = {}, []

    def run_dir(name):
        """Where the variant's run is: its own, or the identical run it reused."""
        if name in results and "reused_from" in results[name]:
            return results[name]["reused_from"]
        return os.path.join(output_dir, table, name, "run")

    def result_path(name):
        return os.path.join(output_dir, table, name, "result.json")

    for name, config in configs.items():
        identical = None if os.path.isfile(result_path(name)) else find_identical_run(
            output_dir, config, budget.steps, run_dir(name))
        if identical:
            results[name], was_cached = cached(result_path(name), reused_result, identical)
        else:
            results[name], was_cached = cached(result_path(name), train_and_evaluate, config,
                                               run_dir(name), budget.steps, progress)
        times.append(describe_time(name, results[name], was_cached))
        print(f"{table}/{times[-1]}")
    first = next(iter(configs))  # The baseline needs a run's record and statistics.
    results[BASELINE], was_cached = cached(result_path(BASELINE), baseline_result,
                                           configs[first], run_dir(first))
    times.append(describe_time(BASELINE, results[BASELINE], was_cached))
    write_reports(table, output_dir, selected, results, budget, body_model_name,
                  {name: run_dir(name) for name in configs})
    print(f"{table}: total wall time {time.perf_counter() - start:.0f} s")
    print("\n".join(f"  {line}" for line in times))
    return results


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keep the console to the command's own output.
    budget = reproduce.Budget(
        input_size=INPUT_SIZE.value, steps=STEPS.value, batch_size=BATCH_SIZE.value,
        num_train=NUM_TRAIN.value, num_test=NUM_TEST.value, lr=LR.value,
        lr_policy=LR_POLICY.value)
    try:
        reproduce_table(TABLE.value, OUTPUT_DIR.value, budget, VARIANTS.value, SMPL_MODEL.value)
    except RequestError as error:
        raise app.UsageError(str(error))


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
