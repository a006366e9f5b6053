"""Runs that cannot be silently corrupted: records, refusals, checkpoints, file writes.

Every refusal here is checked twice: the message names the file, key or
argument with both values, and nothing already written changed (hashes of
every file before and after).
"""
import copy
import glob
import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import configs, evaluation, networks, porting, training
from neural_body_fitting.body import resolve
from neural_body_fitting.data import synthesis
from neural_body_fitting.training import checkpoints, runs
from neural_body_fitting.utils import files


def snapshot(folder):
    """{relative path: sha256} of every file below `folder`."""
    digests = {}
    for path in glob.glob(os.path.join(folder, "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as stream:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(stream.read()).hexdigest()
    return digests


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    roots = []
    for seed in (3, 4):
        root = str(tmp_path_factory.mktemp(f"data{seed}"))
        synthesis.generate_dataset(root, {"train": 8, "val": 4}, seed=seed, progress=False)
        roots.append(root)
    return roots


def run_config(root, changes=None):
    """Two steps of the tiny encoder: what is checked here does not depend on the backbone."""
    config = configs.default_config()
    config.update_from_flattened_dict({
        "runtime.dataset_root": root, "model.fitting.encoder_type": "tiny",
        "runtime.compile_body_model": False,
        "data.input_size": 32, "optim.batch_size": 4, "runtime.max_steps": 2,
        "runtime.save_freq": 1, "runtime.summary_freq": 1000, "runtime.image_summaries": False,
        "optim.seed": 0, **(changes or {})})
    return config


@pytest.fixture(scope="module")
def trained_run(datasets, tmp_path_factory):
    """A two-step run on the first dataset, with checkpoints at steps 1 and 2."""
    run_dir = str(tmp_path_factory.mktemp("run"))
    config = run_config(datasets[0])
    training.Trainer(config, run_dir, progress=False).train()
    return config, run_dir


def copy_of(run_dir, tmp_path):
    target = str(tmp_path / "run_copy")
    shutil.copytree(run_dir, target)
    return target


def test_a_run_records_config_body_model_data_and_statistics(trained_run, datasets):
    config, run_dir = trained_run
    record = runs.read_record(run_dir)
    assert record["config"] == json.loads(json.dumps(config.to_dict()))
    assert record["body_model"] == {"name": "synthetic:0", "fingerprint": resolve.fingerprint(
        resolve.resolve_body_model("synthetic:0"))}
    assert record["dataset"]["root"] == os.path.abspath(datasets[0])
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(run_dir))
    inside = reader.get_tensor("latent_statistics/mean/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_array_equal(inside, np.load(os.path.join(run_dir, "latent_stats_mean.npy")))


def test_resuming_on_another_dataset_is_refused_and_changes_nothing(trained_run, datasets):
    config, run_dir = trained_run
    before = snapshot(run_dir)
    other = run_config(datasets[1])
    with pytest.raises(runs.RunMismatchError, match="training data: the run was trained on"):
        training.Trainer(other, run_dir, progress=False)
    assert snapshot(run_dir) == before


def test_fine_tuning_on_another_dataset_is_explicit_and_recorded(trained_run, datasets,
                                                                 tmp_path):
    _, run_dir = trained_run
    run_copy = copy_of(run_dir, tmp_path)
    trainer = training.Trainer(run_config(datasets[1], {"runtime.max_steps": 3}), run_copy,
                               progress=False,
                               allow_run_changes=True)
    assert trainer.step == 2
    history = runs.read_record(run_copy)["history"]
    assert len(history) == 1 and history[0]["step"] == 2
    assert any(change.startswith("training data") for change in history[0]["changes"])
    # The latent keeps the statistics it was trained against.
    for kind in ("mean", "std"):
        name = f"latent_stats_{kind}.npy"
        np.testing.assert_array_equal(np.load(os.path.join(run_copy, name)),
                                      np.load(os.path.join(run_dir, name)))


def test_a_contradicting_config_is_refused_with_both_values(trained_run):
    config, run_dir = trained_run
    before = snapshot(run_dir)
    changed = run_config(config.runtime.dataset_root, {"model.fitting.use_absrot": False})
    with pytest.raises(runs.RunMismatchError,
                       match="config.model.fitting.use_absrot: the run has True, this "
                             "command False"):
        evaluation.run_evaluation(changed, run_dir, "val")
    with pytest.raises(runs.RunMismatchError, match="config.optim.lr: the run has 4e-05"):
        training.Trainer(run_config(config.runtime.dataset_root, {"optim.lr": 1e-3}), run_dir,
                         progress=False)
    assert snapshot(run_dir) == before


def test_another_body_model_is_refused(trained_run):
    config, run_dir = trained_run
    before = snapshot(run_dir)
    with pytest.raises(runs.RunMismatchError,
                       match="made with body model 'synthetic:0', the run uses 'synthetic:1'"):
        training.Trainer(run_config(config.runtime.dataset_root,
                                    {"model.body_model": "synthetic:1"}), run_dir,
                         progress=False)
    assert snapshot(run_dir) == before


def test_evaluation_writes_valid_json(trained_run):
    config, run_dir = trained_run
    summary = evaluation.run_evaluation(config, run_dir, "val")
    results = runs.evaluation_path(run_dir, "val", runs.dataset_name(config.runtime.dataset_root))
    with open(results + ".json") as stream:
        assert json.load(stream) == json.loads(json.dumps(summary))


def test_evaluation_refuses_non_finite_predictions_naming_the_sample(trained_run):
    config, run_dir = trained_run
    model, stats_mean = evaluation.load_run_model(config, run_dir)

    class Broken:
        smpl = model.smpl

        def __call__(self, inputs, translation=None, training=False):
            outputs = dict(model(inputs, translation=translation, training=training))
            outputs["betas"] = outputs["betas"] * np.nan
            return outputs

    from neural_body_fitting import data

    split = data.load_split(config.runtime.dataset_root, "val")
    dataset = data.make_dataset(split, data.FittingInputs(input_size=32, latent_mean=stats_mean),
                                batch_size=2, shuffle=False, repeat=False, drop_remainder=False)
    with pytest.raises(FloatingPointError, match="sample 'val_000000'.*non-finite 'betas'"):
        evaluation.evaluate(Broken(), dataset, len(split.ids), config)


@pytest.mark.parametrize("key,value,message", [
    ("runtime.save_freq", 0, r"config.runtime.save_freq: must be in \[1, inf\], got 0"),
    ("runtime.summary_freq", 0, "config.runtime.summary_freq"),
    ("runtime.max_steps", -5, "config.runtime.max_steps"),
    ("optim.lr", -1.0, "config.optim.lr"), ("optim.batch_size", 0, "config.optim.batch_size"),
    ("model.bn_decay", 1.5, "config.model.bn_decay"),
    ("data.input_type", "parts7", "config.data.input_type")])
def test_bad_settings_stop_before_anything_is_written(datasets, tmp_path, key, value, message):
    config = run_config(datasets[0])
    config.update_from_flattened_dict({key: value})
    with pytest.raises(ValueError, match=message):
        training.Trainer(config, str(tmp_path / "new_run"), progress=False)
    assert not (tmp_path / "new_run").exists()


def test_an_unknown_override_is_one_line_naming_the_closest_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "neural_body_fitting.cli.train", f"--model_dir={tmp_path}",
         "--config.save_frq=5"], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "train.py: --config.save_frq: unknown config key 'save_frq'; "
        "did you mean 'runtime.save_freq'?"]


def truncate_latest(run_dir):
    latest = tf.train.latest_checkpoint(run_dir)
    data_file = glob.glob(f"{latest}.data-*")[0]
    with open(data_file, "r+b") as stream:
        stream.truncate(os.path.getsize(data_file) // 2)
    return latest


def test_a_truncated_checkpoint_is_named_and_resume_falls_back_with_a_warning(
        trained_run, tmp_path, caplog):
    config, run_dir = trained_run
    run_copy = copy_of(run_dir, tmp_path)
    latest = truncate_latest(run_copy)
    with pytest.raises(checkpoints.CheckpointError, match=f"{latest}: unreadable checkpoint"):
        evaluation.run_evaluation(config, run_copy, "val")
    with caplog.at_level(logging.WARNING):
        trainer = training.Trainer(config, run_copy, progress=False)
    assert trainer.step == 1
    assert latest in caplog.text and "Resuming from" in caplog.text


def test_porting_refuses_a_checkpoint_from_which_nothing_maps(tmp_path):
    unrelated = tf.train.Checkpoint(some=tf.Variable(np.zeros(3, np.float32)))
    path = unrelated.write(str(tmp_path / "unrelated"))
    model = networks.build_fitting_model(run_config(""))
    with pytest.raises(ValueError, match=f"{path}: none of the model's .* variables"):
        porting.port_fitting_checkpoint(path, model, str(tmp_path / "out"), allow_missing=True)
    assert not (tmp_path / "out").exists()


def test_atomic_writes_follow_the_umask_and_keep_the_old_file_on_error(tmp_path):
    path = tmp_path / "file.txt"
    previous = os.umask(0o027)
    try:
        files.atomic_write(path, "first")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with pytest.raises(RuntimeError):
        with files.atomic_open(path, "w") as stream:
            stream.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "first"
    assert os.listdir(tmp_path) == ["file.txt"]


def test_a_damaged_run_record_is_named(trained_run, tmp_path):
    _, run_dir = trained_run
    run_copy = copy_of(run_dir, tmp_path)
    record = copy.deepcopy(runs.read_record(run_copy))
    with open(runs.record_path(run_copy), "w") as stream:
        stream.write(json.dumps(record)[:40])
    with pytest.raises(ValueError, match=f"{runs.record_path(run_copy)}: not a readable run"):
        runs.read_record(run_copy)
