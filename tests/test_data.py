"""Specifications of the tf.data input pipeline and the latent statistics."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import data, geometry
from neural_body_fitting.data import encodings, layout, synthesis
from neural_body_fitting.utils import images


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("pipeline"))
    synthesis.generate_dataset(path, {"train": 6}, seed=1, latent_fraction=0.5, progress=False)
    return path


def first_batch(root, num_landmarks=None, **inputs):
    split = data.load_split(root, "train", inputs.get("input_type", "parts12"),
                            num_landmarks=num_landmarks)
    ds = data.make_dataset(split, data.FittingInputs(**inputs), batch_size=6, shuffle=False,
                           repeat=False)
    return next(iter(ds)), split


@pytest.mark.parametrize("mode", ["relative", "absolute"])
def test_elements_hold_the_stored_sample(root, mode):
    batch, split = first_batch(root, rotation_mode=mode)
    params = np.stack([layout.read_smplparams(layout.sample_paths(root, i)["smplparams"])
                       for i in split.ids])
    relative = geometry.axis_angle_to_matrix(params[:, 10:82].reshape(-1, 24, 3))
    expected = relative if mode == "relative" else geometry.relative_to_absolute(relative)
    np.testing.assert_allclose(batch["rotations"], expected, atol=1e-6)
    np.testing.assert_allclose(batch["latent"][:, :10], params[:, :10], atol=1e-6)
    np.testing.assert_allclose(batch["latent"][:, 10:], np.reshape(expected, (6, 216)), atol=1e-6)
    assert batch["input"].shape == (6, 224, 224, 3) and batch["input"].dtype == tf.float32
    assert batch["landmarks"].shape == (6, 14, 3) and batch["landmarks_2d"].shape == (6, 14, 2)
    assert sorted(batch["latent_flag"].numpy().tolist()) == [0, 0, 0, 1, 1, 1]


def test_latent_mean_is_subtracted(root):
    split = data.load_split(root, "train")
    mean, std = data.latent_statistics(split, "absolute")
    assert mean.shape == std.shape == (229,)
    plain, _ = first_batch(root)
    centred, _ = first_batch(root, latent_mean=mean)
    np.testing.assert_allclose(centred["latent"], plain["latent"] - mean[:226], atol=1e-5)
    with pytest.raises(ValueError, match="229"):
        first_batch(root, latent_mean=np.zeros(226))


def test_parts12_input_is_the_scaled_colour_map(root):
    batch, split = first_batch(root)
    colours = images.read_image(layout.sample_paths(root, split.ids[0])["colours"])
    assert colours.shape == (224, 224, 3)
    np.testing.assert_allclose(batch["input"][0], colours * (2 / 255) - 1, atol=1e-6)


def test_granularities_agree_with_numpy_encodings(root):
    labels = images.read_label_map(layout.sample_paths(root, "train_000000")["labels"])
    for granularity in (1, 6, 24):
        batch, _ = first_batch(root, input_type=f"parts{granularity}")
        colours = set(map(tuple, np.rint((batch["input"][0].numpy() + 1) * 255 / 2)
                          .astype(int).reshape(-1, 3)))
        expected = set(map(tuple, encodings.encode_labels(labels, granularity).reshape(-1, 3)))
        assert colours <= expected | {(0, 0, 0)}


def test_joint_maps_match_the_numpy_drawing(root):
    batch, _ = first_batch(root, input_type="joints14")
    expected = encodings.draw_joint_map(batch["landmarks_2d"][0].numpy())
    image = np.rint((batch["input"][0].numpy() + 1) * 255 / 2).astype(np.uint8)
    assert (image != expected).any(-1).mean() < 1e-4  # float32 vs float64 on disc edges.


def test_seeded_shuffle_is_reproducible(root):
    def ids(seed):
        ds = data.make_dataset(data.load_split(root, "train"), batch_size=6, seed=seed,
                               repeat=False)
        return next(iter(ds))["id"].numpy().tolist()

    assert ids(7) == ids(7)
    assert sorted(ids(7)) == sorted(ids(8))


def test_bad_samples_stop_or_are_skipped_and_counted(root, tmp_path):
    broken = str(tmp_path / "broken")
    shutil.copytree(root, broken)
    paths = [layout.sample_paths(broken, f"train_00000{k}") for k in range(3)]
    with open(paths[0]["smplparams"], "ab") as stream:
        stream.write(b"\0" * 8)
    os.remove(paths[1]["colours"])
    entries = layout.read_split_list(broken, "train") + [("missing_sample", 1)]
    layout.write_split_list(broken, "train", entries)
    with pytest.raises(ValueError, match="train_000000_smplparams.bin"):
        data.load_split(broken, "train")
    split = data.load_split(broken, "train", skip_bad_samples=True)
    assert [s for s, _ in split.skipped] == ["train_000000", "train_000001", "missing_sample"]
    assert len(split.ids) == 4
    with pytest.raises(ValueError, match="landmarks, expected 24"):
        data.load_split(root, "train", num_landmarks=24)


def test_distributed_dataset_on_two_logical_devices(root):
    script = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import functools
from neural_body_fitting import data
from neural_body_fitting.training import trainer
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
build = functools.partial(data.make_dataset, data.load_split({root!r}, "train"), shuffle=False)
ds = trainer.distributed_inputs(strategy, lambda context, **kw: build(input_context=context, **kw),
                                4)
batch = next(iter(ds))
shapes = [t.shape[0] for t in strategy.experimental_local_results(batch["input"])]
print("PER_REPLICA", shapes)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert "PER_REPLICA [2, 2]" in result.stdout, result.stderr[-2000:]
