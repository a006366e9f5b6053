"""Evaluation: the original's metrics, the evaluation of a trained run of either stage, plots."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("fitting", "metrics", "plots", "segmentation", "segmentation_metrics"),
    exports={
        "metrics": ("procrustes_align", "pckh", "sample_metrics", "quartile_ids"),
        "fitting": ("METRICS", "Validator", "evaluate", "evaluation_dataset", "load_run_model",
                    "read_validation_csv", "run_evaluation", "run_evaluations"),
        "segmentation": ("evaluate_segmentation", "load_segmentation_run_model",
                         "run_largest_part_baseline", "run_segmentation_evaluation",
                         "segmentation_evaluation_dataset"),
    },
)
