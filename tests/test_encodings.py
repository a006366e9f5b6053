"""Specifications of the input encodings' shared functions: NumPy and TensorFlow twins agree."""
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import constants
from neural_body_fitting.data import encodings


def test_colour_round_trip_and_table_colours():
    labels = np.random.default_rng(1).integers(0, 13, (20, 30)).astype(np.uint8)
    colours = encodings.colourise(labels)
    table = {tuple(c) for c in constants.PART_COLOURS}
    assert {tuple(c) for c in colours.reshape(-1, 3)} <= table
    np.testing.assert_array_equal(encodings.decolourise(colours), labels)
    colours[0, 0] = (1, 2, 3)
    with pytest.raises(ValueError, match="1 pixels"):
        encodings.decolourise(colours)
    # Off-table colours go to the nearest table colour (brute force as the reference).
    noisy = np.clip(colours.astype(int) + np.random.default_rng(2).integers(-40, 41, colours.shape),
                    0, 255).astype(np.uint8)
    table = np.asarray(constants.PART_COLOURS, int)
    nearest = np.square(noisy.astype(int)[..., None, :] - table).sum(-1).argmin(-1)
    np.testing.assert_array_equal(encodings.decolourise(noisy, strict=False), nearest)


def test_colourise_refuses_labels_outside_the_table():
    with pytest.raises(ValueError, match="label 13"):
        encodings.colourise(np.array([[0, 13]]))


@pytest.mark.parametrize("granularity", encodings.GRANULARITIES)
def test_tf_colourise_and_decolourise_match_numpy(granularity):
    table = encodings.colour_table(granularity)
    labels = np.random.default_rng(granularity).integers(0, len(table), (2, 16, 20))
    colours = encodings.colourise(labels, table)
    np.testing.assert_array_equal(encodings.colourise_tf(labels, table).numpy(), colours)
    decoded = encodings.decolourise_tf(tf.constant(colours), table)
    assert decoded.dtype == tf.int64
    np.testing.assert_array_equal(decoded.numpy(), labels)
    np.testing.assert_array_equal(encodings.decolourise(colours[0], table), labels[0])


def test_tf_decolourise_reads_foreign_colours_as_background():
    colours = encodings.colourise(np.array([[3, 5]]))
    colours[0, 1] += 1
    np.testing.assert_array_equal(encodings.decolourise_tf(colours).numpy(), [[3, 0]])


def test_colour_codes_are_one_integer_per_colour_in_both_twins():
    colours = np.array([[0, 0, 0], [255, 255, 255], [1, 2, 3], [3, 2, 1]], np.uint8)
    expected = [0, 0xFFFFFF, 0x010203, 0x030201]
    np.testing.assert_array_equal(encodings.colour_codes(colours), expected)
    np.testing.assert_array_equal(encodings.colour_codes_tf(colours).numpy(), expected)


@pytest.mark.parametrize("granularity", encodings.GRANULARITIES)
def test_tf_encode_labels_matches_numpy(granularity):
    labels24 = np.random.default_rng(7).integers(0, 25, (12, 9)).astype(np.uint8)
    np.testing.assert_array_equal(encodings.encode_labels_tf(labels24, granularity).numpy(),
                                  encodings.encode_labels(labels24, granularity))


@pytest.mark.parametrize("num_joints", [14, 24])
def test_tf_joint_map_matches_numpy(num_joints):
    rng = np.random.default_rng(num_joints)
    joints = rng.uniform(-5, constants.FIT_SIZE + 5, (num_joints, 2)).astype(np.float32)
    joints[1] = joints[0] + 2.0  # Overlapping discs: the later joint wins in both.
    np.testing.assert_array_equal(encodings.draw_joint_map_tf(tf.constant(joints)).numpy(),
                                  encodings.draw_joint_map(joints))


def test_input_scaling_maps_0_255_onto_minus_1_1_in_both_twins():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    scaled = encodings.scale_input(image)
    assert scaled.dtype == np.float32 and scaled.min() == -1.0 and scaled.max() == 1.0
    np.testing.assert_array_equal(encodings.scale_input_tf(image).numpy(), scaled)
