"""Figures of evaluation results: learning curves and bar charts (matplotlib PNGs).

matplotlib is imported on first use and drawn on its Agg canvas, so nothing
here needs a display or touches pyplot's global state; files are written
atomically.
"""
import io
import os

from neural_body_fitting.evaluation.fitting import read_validation_csv
from neural_body_fitting.utils import files

# validation.csv column -> axis label.
CURVE_METRICS = {
    "mean_err_joints3D": "3D joint error (mm)",
    "mean_recon_err": "Procrustes mean error (mm)",
    "mean_pckh": "PCKh",
    "mean_err_quat": "rotation error (rad)",
}


def new_figure(width, height=4.5):
    """A matplotlib figure on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path):
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    files.atomic_write(path, buffer.getvalue())


def run_curves(run_dirs):
    """{label: validation.csv rows} of the runs (label -> run directory) that wrote one."""
    curves = {label: read_validation_csv(os.path.join(run_dir, "validation.csv"))
              for label, run_dir in run_dirs.items()}
    return {label: rows for label, rows in curves.items() if rows}


def plot_learning_curves(path, curves, title, metrics=("mean_recon_err",), baselines=None):
    """Held-out metrics against the training step; returns False if there is nothing to plot.

    Args:
      path: the PNG to write.
      curves: {label: rows of a validation.csv (dicts with 'step' and the metrics)}.
      title: the figure's title.
      metrics: validation.csv columns, one panel each (keys of CURVE_METRICS).
      baselines: optional {metric: value} drawn as a dashed line (e.g. the
        untrained network's error).
    """
    if not curves:
        return False
    figure = new_figure(1 + 5.5 * len(metrics))
    for index, metric in enumerate(metrics, 1):
        axes = figure.add_subplot(1, len(metrics), index)
        for label, rows in curves.items():
            axes.plot([row["step"] for row in rows], [row[metric] for row in rows],
                      marker=".", label=label)
        if baselines and metric in baselines:
            axes.axhline(baselines[metric], color="grey", linestyle="--",
                         label="untrained (latent mean)")
        axes.set_xlabel("step")
        axes.set_ylabel(CURVE_METRICS[metric])
        axes.legend(fontsize="small")
    figure.suptitle(title)
    save_figure(figure, path)
    return True
