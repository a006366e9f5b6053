"""Specifications of the online augmentation."""
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import constants
from neural_body_fitting.data import augment, encodings


def scene(size=64, seed=0):
    """An image, a 12-part label map with blobs and 14 joints at blob centres."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((size, size), np.int32)
    joints = rng.uniform(16, size - 16, size=(14, 2))
    for k, (u, v) in enumerate(joints):
        rows, cols = np.mgrid[:size, :size] + 0.5
        labels[(cols - u) ** 2 + (rows - v) ** 2 <= 4] = 1 + k % 12
    image = rng.uniform(0, 255, (size, size, 3)).astype(np.float32)
    return image, labels, joints


def test_flip_only_mirrors_image_and_remaps_labels():
    image, labels, joints = scene()
    out = augment.augment(tf.constant([1, 2]), image, labels, joints, flip_probability=1.0,
                          scale_range=(1.0, 1.0), max_rotation_degrees=0.0)
    np.testing.assert_allclose(out["image"], image[:, ::-1], atol=1e-3)
    np.testing.assert_array_equal(out["labels"], constants.MIRROR_PARTS[labels[:, ::-1]])
    expected = np.stack([64 - joints[:, 0], joints[:, 1]], 1)[constants.MIRROR_LANDMARKS14]
    np.testing.assert_allclose(out["joints_2d"], expected, atol=1e-4)


def test_flip_twice_is_identity():
    image, labels, _ = scene()
    kwargs = dict(flip_probability=1.0, scale_range=(1.0, 1.0), max_rotation_degrees=0.0)
    once = augment.augment(tf.constant([3, 4]), image, labels, **kwargs)
    twice = augment.augment(tf.constant([5, 6]), once["image"], once["labels"], **kwargs)
    np.testing.assert_allclose(twice["image"], image, atol=1e-3)
    np.testing.assert_array_equal(twice["labels"], labels)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_labels_stay_labels_and_joints_follow_the_image(seed):
    image, labels, joints = scene(seed=seed)
    out = augment.augment(tf.constant([seed, 7]), image, labels, joints, output_size=(56, 56))
    assert set(np.unique(out["labels"])) <= set(range(13))
    assert out["image"].shape == (56, 56, 3) and out["labels"].shape == (56, 56)
    moved = out["joints_2d"].numpy()
    warped = out["labels"].numpy()
    hits = 0
    for k, (u, v) in enumerate(moved):
        if 1 <= u < 55 and 1 <= v < 55:
            label = warped[int(v), int(u)]
            # The joint stays on its blob (label possibly mirrored with the joint order).
            hits += label != 0
    visible = np.sum((moved >= 1).all(1) & (moved < 55).all(1))
    assert hits >= visible - 1


def test_reproducible_per_seed():
    image, labels, _ = scene()
    first = augment.augment(tf.constant([9, 9]), image, labels)
    again = augment.augment(tf.constant([9, 9]), image, labels)
    other = augment.augment(tf.constant([9, 10]), image, labels)
    np.testing.assert_array_equal(first["image"], again["image"])
    assert not np.array_equal(first["image"], other["image"])


def test_other_granularities_remap_with_their_tables():
    labels = np.tile(np.arange(25, dtype=np.int32), (25, 1))[:, :25]
    image = np.zeros((25, 25, 3), np.float32)
    out = augment.augment(tf.constant([0, 0]), image, labels, granularity=24,
                          flip_probability=1.0, scale_range=(1.0, 1.0), max_rotation_degrees=0.0)
    np.testing.assert_array_equal(out["labels"], encodings.mirror_labels(24)[labels[:, ::-1]])
