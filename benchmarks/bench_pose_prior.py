"""How well each mix of the pose prior covers real motion and the Euler limits.

Usage: python benchmarks/bench_pose_prior.py [--samples=3000]

For each fraction of Euler-limit samples in the motion-capture prior, the
table gives the mean distance (mean rotation over the 23 body joints, degrees)
from every pose of two test sets to its nearest prior sample: the pose
bank's held-out clips (real motion the bank never saw) and poses of the
Euler-limit prior (the range of the hand-written limits, which motion
capture of a few activities does not cover).
"""
import numpy as np
from absl import app, flags

from neural_body_fitting.body import pose_bank, pose_prior

SAMPLES = flags.DEFINE_integer("samples", 3000, "Prior samples per mix.")
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def nearest_distances(test, samples):
    """[T] degrees from body poses test [T, 72] to the nearest of samples [S, 72]."""
    def body(poses):
        return np.asarray(poses).reshape(len(poses), -1, 3)[:, 1:]

    return pose_bank.pose_distances(body(test), body(samples)).min(1)


def main(argv):
    del argv
    bank = pose_bank.read_pose_bank()
    held_out = bank.test_poses.reshape(len(bank.test_poses), 72)
    limits = pose_prior.sample_poses(np.random.default_rng(1), len(held_out))
    print(f"{len(bank.poses)} bank poses; {len(held_out)} held-out poses; "
          f"{SAMPLES.value} samples a mix\n")
    print("| limits fraction | to held-out clips (deg) | to Euler-limit poses (deg) |")
    print("|---:|---:|---:|")
    for fraction in FRACTIONS:
        prior = pose_prior.PosePrior(limits_fraction=fraction)
        samples = prior.sample(np.random.default_rng(0), SAMPLES.value)
        print(f"| {fraction:.1f} | {nearest_distances(held_out, samples).mean():.2f} | "
              f"{nearest_distances(limits, samples).mean():.2f} |")


if __name__ == "__main__":
    app.run(main)
