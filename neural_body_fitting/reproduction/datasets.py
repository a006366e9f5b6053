"""The data the variants read: one synthetic dataset per landmark count, Table 4's
re-flagged training lists, and where Table 2's predicted part maps go."""
import os

import numpy as np

from neural_body_fitting.body import pose_prior
from neural_body_fitting.configs import reproduce
from neural_body_fitting.data import layout, synthesis

FLAG_SEED = 4  # Seeds the permutation that chooses Table 4's samples with 3D labels.
PREDICTED_ROOT = "data_predicted"
# Table 2's held-out sets: name -> title.
TEST_DATA = {"gt": "ground-truth maps", "predicted": "predicted maps"}


def dataset_root(output_dir, num_landmarks):
    return os.path.join(output_dir, "data" if num_landmarks == 14 else
                        f"data_landmarks{num_landmarks}")


def variant_root(output_dir, variant):
    """The data a variant trains on: the predicted part maps, or the synthetic dataset."""
    if variant.predicted_parts:
        return os.path.join(output_dir, PREDICTED_ROOT)
    return dataset_root(output_dir, variant.num_landmarks)


def test_roots(output_dir):
    """{name of `TEST_DATA`: dataset root}: Table 2's true and predicted part maps."""
    return {"gt": dataset_root(output_dir, 14),
            "predicted": os.path.join(output_dir, PREDICTED_ROOT)}


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
    """The datasets (the demo's recipe, `synthesis.ensure_synthetic_dataset`) and training
    lists the variants read."""
    counts = {"train": budget.num_train, "test": budget.num_test}
    for count in sorted({v.num_landmarks for v in variants.values()}):
        synthesis.ensure_synthetic_dataset(
            dataset_root(output_dir, count), counts, body_model, num_landmarks=count,
            progress=progress, prior=pose_prior.PosePrior(pose_prior.LIMITS_PRIOR))  # As measured.
    fractions = sorted({v.fraction_3d for v in variants.values()} - {1.0})
    if fractions:
        write_fraction_lists(dataset_root(output_dir, 14), fractions)
