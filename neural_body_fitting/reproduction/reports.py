"""The tables' reports: <table>.md, .csv and .png (ours beside the paper's), the
validation curves, Table 2's segmenter table, and the timing lines a call prints."""
import csv
import io
import os

import numpy as np

from neural_body_fitting import evaluation
from neural_body_fitting.configs import reproduce
from neural_body_fitting.reproduction.datasets import TEST_DATA
from neural_body_fitting.reproduction.segmenter import SEGMENTATION_METRICS
from neural_body_fitting.reproduction.variants import BASELINE, METRICS
from neural_body_fitting.utils import files


def describe_time(name, result, was_cached):
    if "reused_from" in result:
        return f"{name}: the identical run {result['reused_from']}"
    steps, seconds = result["steps_this_call"], result["train_seconds"]
    trained = f"trained {steps} steps in {seconds:.0f} s ({seconds / steps:.2f} s/step), " \
        if steps else ""
    text = f"{trained}evaluated in {result['eval_seconds']:.0f} s"
    return f"{name}: cached ({text} when made)" if was_cached else f"{name}: {text}"


def describe_budget(budget, body_model_name):
    overrides = "".join(f", config.{key}={value!r}"
                        for key, value in sorted(budget.config_overrides.items()))
    return (f"{budget.steps} steps of batch {budget.batch_size} at {budget.input_size} px, "
            f"lr {budget.lr:g} ({budget.lr_policy}), {budget.num_train} training samples, "
            f"body model {body_model_name}{overrides}")


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
