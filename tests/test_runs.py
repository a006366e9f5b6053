"""Runs: one preparation of a run (record, body model, split, statistics), the task that
trains it, and the migration of runs recorded by 0.2."""
import json
import os
import shutil

import numpy as np
import pytest

from neural_body_fitting import configs, evaluation, serving, training
from neural_body_fitting.configs import migration
from neural_body_fitting.data import layout, synthesis
from neural_body_fitting.training import runs

FIXTURE = os.path.join(os.path.dirname(__file__), "data", "run_0_2")
BAD_ID = "train_000002"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("runs_data"))
    synthesis.generate_dataset(path, {"train": 5, "val": 2}, seed=5, progress=False)
    return path


def tiny_config(root, stage="fitting"):
    config = (configs.default_config() if stage == "fitting"
              else configs.get_experiment("segmentation_deeplab_vgg"))
    config.update_from_flattened_dict({
        "runtime.dataset_root": root, "data.input_size": 32, "optim.batch_size": 2,
        "runtime.max_steps": 3, "runtime.save_freq": 100, "runtime.summary_freq": 100,
        "runtime.image_summaries": False, "model.fitting.encoder_type": "tiny",
        "runtime.compile_body_model": False,
        "model.segmenter.network": "tiny"})
    return config


def test_every_flat_key_of_0_2_has_one_home_and_nests_to_the_default():
    nested = configs.default_config().to_dict()
    flat_defaults = {old: configs.base.lookup(configs.default_config(), new)
                     for old, new in migration.FLAT_KEYS.items()}
    assert len(set(migration.FLAT_KEYS.values())) == len(migration.FLAT_KEYS)
    assert set(migration.FLAT_KEYS.values()) | set(migration.NEW_SINCE_0_2) == set(
        configs.base.flat_keys(configs.default_config()))
    restored = configs.base.config_from_dict(
        {key: (dict(value) if key == "loss_terms" else value)
         for key, value in flat_defaults.items()})
    assert json.dumps(restored.to_dict(), sort_keys=True, default=str) == json.dumps(
        nested, sort_keys=True, default=str)


def test_a_0_2_record_reads_as_the_nested_config_it_was_trained_with():
    config = runs.load_run_config(FIXTURE, stage="fitting")
    with open(os.path.join(FIXTURE, "run.json")) as stream:
        flat = json.load(stream)["config"]
    assert flat["lr"] == 3e-4 and "optim" not in flat  # The fixture is 0.2's.
    assert (config.optim.lr, config.model.bn_decay, config.optim.seed, config.data.input_size,
            config.model.body_model) == (3e-4, 0.9, 7, 32, "synthetic")
    assert tuple(config.loss.terms.joint_locations_posed) == ("euclidist", 0.5)
    history = runs.read_record(FIXTURE)["history"]
    assert history[0]["config"]["optim"]["lr"] == 1e-4
    with pytest.raises(ValueError, match="a fitting run, not a segmentation run"):
        runs.load_run_config(FIXTURE, stage="segmentation")


def test_a_0_2_run_resumes_evaluates_and_serves(root, tmp_path):
    run_dir = str(tmp_path / "run")
    shutil.copytree(FIXTURE, run_dir)
    record_path = runs.record_path(run_dir)
    with open(record_path) as stream:
        record = json.load(stream)
    # The data is not part of the fixture: point the record at the same recipe made now.
    record["dataset"] = runs.dataset_identity(root, "train")
    with open(record_path, "w") as stream:
        json.dump(record, stream)
    config = runs.load_run_config(run_dir)
    config.runtime.dataset_root = root
    config.runtime.max_steps = 3
    trainer = training.Trainer(config, run_dir, progress=False)
    assert trainer.run.changes == [] and trainer.step == 0  # No weights in the fixture.
    trainer.train()
    migrated = runs.read_record(run_dir)
    with open(record_path) as stream:
        assert json.load(stream)["format"] == runs.FORMAT
    assert len(migrated["history"]) == 2 and migrated["history"][1]["changes"] == []
    np.testing.assert_array_equal(np.load(os.path.join(run_dir, "latent_stats_mean.npy")),
                                  np.load(os.path.join(FIXTURE, "latent_stats_mean.npy")))
    summary = evaluation.run_evaluation(config, run_dir, "val")
    assert summary["num_samples"] == 2 and np.isfinite(summary["mean_recon_err"])
    model = serving.predictor.load_fitting_run(run_dir)
    assert model.options.input_size == 32 and model.options.seed == 7


@pytest.mark.parametrize("stage,damaged", [("fitting", "colours"), ("segmentation", "image")])
def test_skip_bad_samples_trains_without_the_bad_sample(root, tmp_path, stage, damaged):
    broken = str(tmp_path / "data")
    shutil.copytree(root, broken)
    path = layout.sample_paths(broken, BAD_ID)[damaged]
    with open(path, "r+b") as stream:
        stream.truncate(100)
    config = tiny_config(broken, stage)
    with pytest.raises(ValueError, match=BAD_ID):
        training.Trainer(config, str(tmp_path / "refused"), progress=False)
    assert not os.path.exists(tmp_path / "refused")
    config.runtime.skip_bad_samples = True
    trainer = training.Trainer(config, str(tmp_path / "run"), progress=False)
    assert BAD_ID not in trainer.run.split.ids and len(trainer.run.split.ids) == 4
    assert [sample for sample, _ in trainer.run.split.skipped] == [BAD_ID]
    # Three steps of two cover the four good samples more than once.
    assert np.isfinite(trainer.train()["loss"]) and trainer.step == 3


def test_prepare_run_writes_nothing_and_loads_the_split_once(root, tmp_path, monkeypatch):
    from neural_body_fitting import data

    loads = []
    original = data.load_split
    monkeypatch.setattr(data, "load_split",
                        lambda *args, **kwargs: loads.append(args) or original(*args, **kwargs))
    run_dir = str(tmp_path / "run")
    run = runs.prepare_run(tiny_config(root), run_dir)
    assert run.record is None and run.new_statistics and not os.path.exists(run_dir)
    assert run.statistics[0].shape == (229,) and len(run.split.ids) == 5
    trainer = training.Trainer(tiny_config(root), run_dir, progress=False)
    trainer.train(max_steps=1)
    assert len(loads) == 2  # One for prepare_run above, one for the Trainer's run.
