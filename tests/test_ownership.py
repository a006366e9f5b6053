"""Nothing a user owns is replaced, one process owns a directory, SIGTERM saves, a full
disk is named (issue 19).

Every refusal is checked by hashing the user's files before and after.
"""
import contextlib
import errno
import glob
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import untrained_fitting_run
from test_reliability import snapshot

from neural_body_fitting import configs, evaluation, serving, training
from neural_body_fitting.data import encodings, synthesis
from neural_body_fitting.training import checkpoints, runs
from neural_body_fitting.utils import files, locks, outputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The commands get this checkout, whatever the test process was started with.
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
    REPO, os.environ.get("PYTHONPATH")])), TF_CPP_MIN_LOG_LEVEL="2")


def command(module, *args):
    return [sys.executable, "-m", f"neural_body_fitting.cli.{module}", *map(str, args)]


def run_command(module, *args):
    return subprocess.run(command(module, *args), env=ENV, capture_output=True, text=True,
                          timeout=600)


def users_folder(path):
    (path / "sub").mkdir(parents=True)
    (path / "notes.txt").write_text("my notes")
    (path / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    synthesis.generate_dataset(root, {"train": 8, "val": 4}, seed=3, progress=False)
    return root


def tiny_overrides(root, **changes):
    """nbf-train's --config.<key> flags of the tiny encoder at 32 px on `root`."""
    settings = {"runtime.dataset_root": root, "model.fitting.encoder_type": "tiny",
                "runtime.compile_body_model": False,
                "data.input_size": 32, "optim.batch_size": 4, "runtime.max_steps": 100000,
                "runtime.save_freq": 1, "runtime.summary_freq": 1000,
                "runtime.image_summaries": False, "runtime.validation_freq": 0,
                "runtime.cache_inputs": False, **changes}
    return ["--config=demo"] + [f"--config.{key}={value}" for key, value in settings.items()]


def tiny_config(root, **changes):
    config = configs.default_config()
    config.update_from_flattened_dict({
        "runtime.dataset_root": root, "model.fitting.encoder_type": "tiny",
        "runtime.compile_body_model": False,
        "data.input_size": 32, "optim.batch_size": 4, "runtime.max_steps": 2,
        "runtime.save_freq": 1, "runtime.summary_freq": 1000, "runtime.image_summaries": False,
        "optim.seed": 0, **changes})
    return config


# Item 1: a user-named output is refused unless it is new, empty or ours.

# (command, its other arguments, the output argument); the refusal comes before any
# input is read, so the inputs need not exist.
OUTPUT_COMMANDS = [
    ("export", ["--fitting_run=missing"], "--output"),
    ("infer", ["--mode=fit", "--input=missing", "--fitting_run=missing"], "--output_dir"),
    ("make_data", ["--num_train=2", "--num_val=0", "--num_test=0", "--overwrite"],
     "--output_dir"),
    ("reproduce", ["--table=table3"], "--output_dir"),
    ("port", ["--tf1_checkpoint=missing"], "--output_dir"),
]


@pytest.mark.parametrize("module,args,argument", OUTPUT_COMMANDS)
def test_export_output_refuses_a_users_folder(tmp_path, module, args, argument):
    folder = users_folder(tmp_path / "mine")
    before = snapshot(folder)
    result = run_command(module, *args, f"{argument}={folder}")
    assert result.returncode != 0
    assert (f"{argument}={folder}: this folder exists and was not written by this library"
            in result.stderr), result.stderr
    assert snapshot(folder) == before and sorted(os.listdir(folder)) == ["notes.txt", "sub"]


def test_export_output_refuses_a_users_file_and_stats_a_users_statistics(tmp_path):
    mine = tmp_path / "model"
    mine.write_text("my model")
    stats = tmp_path / "latent_mean.npy"
    np.save(stats, np.zeros(229))
    before = snapshot(tmp_path)
    exported = run_command("export", "--fitting_run=missing", f"--output={mine}")
    assert exported.returncode != 0
    assert f"--output={mine}: this file exists and was not written" in exported.stderr
    computed = run_command("stats", f"--dataset_root={tmp_path}", "--overwrite",
                           f"--output={tmp_path / 'latent'}")
    assert computed.returncode != 0
    assert f"--output={stats}: this file exists" in computed.stderr, computed.stderr
    assert snapshot(tmp_path) == before


def test_export_output_of_ours_is_replaced_only_with_overwrite(tmp_path):
    ours = tmp_path / "export"
    ours.mkdir()
    (ours / "saved_model.pb").write_bytes(b"an earlier export")
    outputs.mark(ours, "nbf-export")
    with pytest.raises(outputs.OutputRefused, match="earlier output of nbf-export; pass "
                                                    "--overwrite"):
        outputs.claim(ours, "--output")
    outputs.claim(ours, "--output", overwrite=True)
    outputs.claim(ours, "--output", reuse=True)  # nbf-infer, nbf-reproduce add to theirs.
    outputs.claim(tmp_path / "new", "--output")
    (tmp_path / "empty").mkdir()
    outputs.claim(tmp_path / "empty", "--output")


def test_export_output_rule_keeps_resuming_an_incomplete_dataset_of_ours(tmp_path):
    root = tmp_path / "data"
    synthesis.generate_dataset(str(root), {"train": 2}, seed=1, progress=False)
    assert outputs.written_by(root) == "dataset generation"
    info = json.loads((root / "dataset.json").read_text())
    (root / "dataset.json").write_text(json.dumps({**info, "complete": False}))
    outputs.claim(root, "--output_dir", reuse=True)  # What nbf-make-data does for it.


# Item 2: one process at a time in a run directory, a reproduction, a dataset.

def wait_for_owner(directory, process):
    """Waits until `process` holds the lock of `directory` (or has ended)."""
    lock_file = os.path.join(directory, locks.LOCK_FILE)
    while process.poll() is None:
        if os.path.isfile(lock_file) and f"process {process.pid} " in open(lock_file).read():
            return
        time.sleep(0.2)
    pytest.fail(f"the first process ended first: {process.stderr.read()[-3000:]}")


def test_two_processes_on_one_run_directory(dataset, tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen(command("train", f"--model_dir={run_dir}", *tiny_overrides(dataset)),
                             env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_owner(run_dir, first)
        second = run_command("train", f"--model_dir={run_dir}", *tiny_overrides(dataset))
        assert second.returncode != 0
        assert f"{run_dir}: in use by process {first.pid} (train.py), started " in (
            second.stderr), second.stderr[-3000:]
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    # The killed owner left no stale lock.
    with locks.own_directory(run_dir):
        pass


HOLDER = """
import sys, time
from neural_body_fitting.utils import locks
ownership = locks.own_directory(sys.argv[1])
print("HELD", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def held_by_another_process(directory):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], env=ENV,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "HELD"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_two_processes_on_one_reproduction_or_dataset(tmp_path):
    output = tmp_path / "reproduction"
    output.mkdir()
    outputs.mark(output, "nbf-reproduce")
    with held_by_another_process(output) as pid:
        result = run_command("reproduce", "--table=table3", f"--output_dir={output}")
        assert result.returncode != 0
        assert f"{output}: in use by process {pid} " in result.stderr, result.stderr[-3000:]
        with pytest.raises(locks.DirectoryBusy, match=f"in use by process {pid} "):
            synthesis.generate_dataset(str(output), {"train": 1}, progress=False)
    assert sorted(os.listdir(output)) == sorted([locks.LOCK_FILE, outputs.MARKER])


# Item 3: checkpoints without a run record.

def test_a_run_without_run_json_is_not_resumed_unless_allowed(dataset, tmp_path):
    run_dir = str(tmp_path / "run")
    training.Trainer(tiny_config(dataset), run_dir, progress=False).train()
    os.remove(runs.record_path(run_dir))
    other_data = str(tmp_path / "other")
    synthesis.generate_dataset(other_data, {"train": 8}, seed=4, progress=False)
    before = snapshot(run_dir)
    with pytest.raises(runs.RunMismatchError, match=(
            f"{run_dir}: holds checkpoints \\(ckpt-1, ckpt-2\\) but no run record "
            "\\(run.json\\).*--allow_run_changes")):
        training.Trainer(tiny_config(other_data), run_dir, progress=False)
    assert snapshot(run_dir) == before
    trainer = training.Trainer(tiny_config(other_data), run_dir, progress=False,
                               allow_run_changes=True)
    assert trainer.step == 2
    history = runs.read_record(run_dir)["history"]
    assert [entry["changes"] for entry in history] == [[runs.ASSUMED_FOR_UNRECORDED]]


# Item 5: SIGTERM saves like SIGINT.

def test_sigterm_saves_a_checkpoint_and_the_run_resumes(dataset, tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(command("train", f"--model_dir={run_dir}",
                                       *tiny_overrides(dataset)),
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while process.poll() is None and not tf.train.latest_checkpoint(str(run_dir)):
        time.sleep(0.2)  # Training runs once the first checkpoint is there.
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    assert "SIGTERM received: stopped and saved; the same command resumes" in stdout
    latest = tf.train.latest_checkpoint(str(run_dir))
    step = int(latest.rsplit("-", 1)[1])
    assert f"step {step}; checkpoint {latest}" in stdout
    resumed = run_command("train", f"--model_dir={run_dir}",
                          f"--config.runtime.max_steps={step + 1}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert tf.train.latest_checkpoint(str(run_dir)).endswith(f"ckpt-{step + 1}")


# Item 6: a full disk.

def fill_the_disk(monkeypatch):
    """From now on every file write fails as on a full disk: `files.atomic_open`, which all
    writers use (`atomic_write` too), makes its temporary file, then writing it raises
    ENOSPC."""
    real_atomic_path = files.atomic_path

    @contextlib.contextmanager
    def atomic_open_on_a_full_disk(path, mode="wb"):
        with real_atomic_path(path) as tmp_path:
            open(tmp_path, "xb").close()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        yield  # Never reached: the context manager needs a generator.

    monkeypatch.setattr(files, "atomic_open", atomic_open_on_a_full_disk)


def assert_names_the_file_and_the_space(error, path):
    assert error.value.errno == errno.ENOSPC
    assert f"{path}: no space left on the device to write it (" in str(error.value)
    assert " MB free in " in str(error.value)
    assert not glob.glob(os.path.join(os.path.dirname(path), ".tmp_*"))


def test_disk_full_in_make_data_eval_and_infer_names_the_file(dataset, tmp_path, monkeypatch):
    run_dir = untrained_fitting_run(str(tmp_path / "run"))
    config = runs.load_run_config(run_dir)
    config.runtime.dataset_root = dataset
    maps = tmp_path / "maps"
    maps.mkdir()
    labels = np.kron(np.random.default_rng(0).integers(0, 13, (28, 28)), np.ones((8, 8), int))
    assert cv2.imwrite(str(maps / "good.png"), encodings.colourise(labels)[..., ::-1])
    predictor = serving.Predictor.from_runs(run_dir, None, None)
    fill_the_disk(monkeypatch)
    root = tmp_path / "data"
    with pytest.raises(OSError) as error:
        synthesis.generate_dataset(str(root), {"train": 2}, progress=False)
    assert_names_the_file_and_the_space(error, root / "dataset.json")

    with pytest.raises(OSError) as error:
        evaluation.run_evaluation(config, run_dir, "val")
    evaluated = runs.evaluation_path(run_dir, "val", runs.dataset_name(config.runtime.dataset_root))
    assert_names_the_file_and_the_space(error, evaluated + ".npz")

    out = str(tmp_path / "out")
    with pytest.raises(OSError) as error:
        serving.run_inference(predictor, str(maps), out, "fit", progress=False)
    assert_names_the_file_and_the_space(error, os.path.join(out, "index.html"))


def test_disk_full_at_a_checkpoint_save_removes_it_and_keeps_the_previous(dataset, tmp_path,
                                                                          monkeypatch):
    run_dir = str(tmp_path / "run")
    trainer = training.Trainer(tiny_config(dataset), run_dir, progress=False)
    trainer.train()

    def write_on_a_full_disk(prefix, options=None):
        # What CheckpointManager.save calls (Checkpoint._write): TensorFlow writes the
        # shards to <prefix>_temp/ first; here the disk fills up there.
        os.makedirs(f"{prefix}_temp")
        open(f"{prefix}_temp/part-00000-of-00001.data-00000-of-00001", "wb").close()
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(trainer.checkpoint, "_write", write_on_a_full_disk)
    with pytest.raises(checkpoints.CheckpointSaveError, match=(
            f"{run_dir}/ckpt-3: saving the checkpoint failed \\(No space left on device\\); "
            f".* MB free in {run_dir}. Its partial files are removed; the newest checkpoint "
            f"kept is {run_dir}/ckpt-2")):
        trainer.train(max_steps=3)
    assert not glob.glob(os.path.join(run_dir, "*_temp")) + glob.glob(
        os.path.join(run_dir, "ckpt-3*"))
    assert training.Trainer(tiny_config(dataset), run_dir, progress=False).step == 2
