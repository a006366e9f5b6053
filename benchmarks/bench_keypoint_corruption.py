"""Held-out errors of joint-map fitting runs on landmarks corrupted as a detector's are.

    python benchmarks/bench_keypoint_corruption.py --run=NAME=RUN_DIR [--run=...] \
        --data=DATASET [--split=test]

Evaluates each run (for example one trained with the `keypoints_fit`
experiment, and one trained the same way on exact landmarks) on the held-out
split, its joint maps drawn from the exact landmarks and from landmarks
corrupted by `data.keypoint_noise` at several levels: each kind alone, then
all three at half, once and twice the `keypoints_fit` experiment's values.
The corruption is seeded, so every run sees the same corrupted landmarks.
Prints a Markdown table of the mean Procrustes-aligned error (recon_err) and
the mean 3D joint error (err_joints3D), in mm. A table, not a test: the
README quotes it.
"""
import argparse
import dataclasses
import platform

from neural_body_fitting import evaluation
from neural_body_fitting.configs import experiments
from neural_body_fitting.data import keypoint_noise
from neural_body_fitting.training import runs

EXPERIMENT = keypoint_noise.KeypointCorruption.from_config(
    experiments.get_experiment("keypoints_fit"))


def levels():
    """[(label, KeypointCorruption)] from exact to twice the experiment's corruption."""
    none = keypoint_noise.KeypointCorruption()
    rows = [("exact landmarks", none)]
    for name in ("jitter", "swap_rate", "drop_rate"):
        value = getattr(EXPERIMENT, name)
        rows.append((f"{name} {value:g} alone", dataclasses.replace(none, **{name: value})))
    rows.append(("every left/right swapped", dataclasses.replace(none, swap_rate=1.0)))
    for factor in (0.5, 1.0, 2.0):
        level = keypoint_noise.KeypointCorruption(
            EXPERIMENT.jitter * factor, min(1.0, EXPERIMENT.swap_rate * factor),
            min(1.0, EXPERIMENT.drop_rate * factor))
        rows.append((f"all three x{factor:g} (j {level.jitter:g}, s {level.swap_rate:g}, "
                     f"d {level.drop_rate:g})", level))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True,
                        help="NAME=RUN_DIR of a joints14 fitting run (repeatable)")
    parser.add_argument("--data", required=True, help="the dataset whose split is evaluated")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    named = dict(item.split("=", 1) for item in args.run)
    table = {}
    for name, run_dir in named.items():
        config = runs.load_run_config(run_dir, stage="fitting")
        config.runtime.dataset_root = args.data
        for label, corruption in levels():
            summary = evaluation.run_evaluation(config, run_dir, args.split, output=False,
                                                corruption=corruption)
            table[label, name] = summary
            print(f"{name}, {label}: recon_err {summary['mean_recon_err']:.1f} mm, "
                  f"err_joints3D {summary['mean_err_joints3D']:.1f} mm", flush=True)
    count = next(iter(table.values()))["num_samples"]
    print(f"\n{platform.node()}, {args.split} split of {args.data} ({count} samples); "
          "mean recon_err / err_joints3D in mm\n")
    print("| landmarks | " + " | ".join(named) + " |")
    print("|---|" + "---:|" * len(named))
    for label, _ in levels():
        cells = [f"{table[label, name]['mean_recon_err']:.1f} / "
                 f"{table[label, name]['mean_err_joints3D']:.1f}" for name in named]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
