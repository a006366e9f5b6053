"""A dataset is complete or visibly incomplete: an interrupted `nbf-make-data`
resumes to the files of an uninterrupted run, and leaves no worker behind."""
import collections
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest

from neural_body_fitting.data import fitting_inputs, layout, synthesis

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTS = {"train": 24, "val": 2, "test": 0}
SEED = 1

Interrupted = collections.namedtuple("Interrupted", "root workers killed_at files_at_kill")
Resumed = collections.namedtuple("Resumed", "root finished mtimes")


def make_data(root, stderr=subprocess.DEVNULL):
    """The command under test: --overwrite with another seed, under umask 022."""
    return subprocess.Popen(
        [sys.executable, "-m", "neural_body_fitting.cli.make_data", f"--output_dir={root}",
         "--overwrite", f"--seed={SEED}", f"--num_train={COUNTS['train']}",
         f"--num_val={COUNTS['val']}", f"--num_test={COUNTS['test']}", "--mirror_fraction=0.5",
         "--workers=2"],
        env=dict(os.environ, PYTHONPATH=REPO), umask=0o022, stdout=subprocess.DEVNULL,
        stderr=stderr, text=True)


def proc_stat(pid):
    """(state, parent pid) of a process, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as stream:
            fields = stream.read().rsplit(")", 1)[1].split()  # After "pid (command)".
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1])


def children(pid):
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            state = proc_stat(entry)
            if state is not None and state[1] == pid:
                found.add(int(entry))
    return found


def alive(pid):
    state = proc_stat(pid)
    return state is not None and state[0] not in "ZX"  # A zombie has stopped running.


def sample_files(root, sample_id):
    return list(layout.sample_paths(root, sample_id).values())


def file_names(root):
    return {os.path.relpath(os.path.join(folder, name), root)
            for folder, _, names in os.walk(root) for name in names}


def hashes(root):
    """{relative path: sha256} of every file under `root`, hidden ones included."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as stream:
                found[os.path.relpath(path, root)] = hashlib.sha256(stream.read()).hexdigest()
    return found


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A complete seed-0 dataset overwritten with seed 1, SIGKILLed after a few new samples."""
    root = str(tmp_path_factory.mktemp("interrupted"))
    synthesis.generate_dataset(root, {"train": 6, "val": 2}, seed=0, mirror_fraction=0.5,
                               progress=False)
    old = set(os.listdir(os.path.join(root, "joints")))
    process = make_data(root)
    workers = set()
    deadline = time.monotonic() + 300
    while len(set(os.listdir(os.path.join(root, "joints"))) - old) < 3:
        assert process.poll() is None, "the generation ended before it could be killed"
        assert time.monotonic() < deadline, "no new samples"
        workers |= children(process.pid)
        time.sleep(0.05)
    workers |= children(process.pid)
    process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    process.wait()
    return Interrupted(root, workers, killed_at, file_names(root))


@pytest.fixture(scope="module")
def resumed(interrupted, tmp_path_factory):
    """A copy of the interrupted dataset after the same command ran again to the end."""
    root = str(tmp_path_factory.mktemp("resumed") / "data")
    shutil.copytree(interrupted.root, root)  # Keeps the mtimes.
    finished = layout.read_finished(root)
    mtimes = {path: os.stat(path).st_mtime_ns
              for sample_id in finished for path in sample_files(root, sample_id)}
    process = make_data(root, stderr=subprocess.PIPE)
    _, errors = process.communicate(timeout=600)
    assert process.returncode == 0, errors
    return Resumed(root, finished, mtimes)


def test_an_interrupted_overwrite_is_visibly_incomplete(interrupted):
    # The seed-0 lists are gone: nothing loads the new samples as the old dataset.
    for split in ("train", "val"):
        with pytest.raises((FileNotFoundError, ValueError)):
            fitting_inputs.load_split(interrupted.root, split)
    with pytest.raises(ValueError, match=r"dataset\.json: .*interrupted.*resume"):
        layout.check_complete(interrupted.root)


def test_no_worker_outlives_a_killed_generator(interrupted):
    assert len(interrupted.workers) >= 2
    while time.monotonic() < interrupted.killed_at + 2 and any(map(alive, interrupted.workers)):
        time.sleep(0.05)
    assert not [pid for pid in interrupted.workers if alive(pid)]
    # Orphaned workers would have gone on writing their chunks after the kill.
    assert file_names(interrupted.root) == interrupted.files_at_kill


def test_other_settings_do_not_resume(interrupted):
    with pytest.raises(synthesis.SettingsMismatch,
                       match=r"dataset\.json: .*seed: 1 there, 2 here.*--overwrite"):
        synthesis.generate_dataset(interrupted.root, COUNTS, seed=2, mirror_fraction=0.5,
                                   progress=False)


def test_resuming_keeps_finished_samples_and_equals_an_uninterrupted_run(resumed, tmp_path):
    assert len(resumed.finished) >= 3
    assert resumed.mtimes == {path: os.stat(path).st_mtime_ns for path in resumed.mtimes}
    layout.check_complete(resumed.root)
    uninterrupted = str(tmp_path / "uninterrupted")
    synthesis.generate_dataset(uninterrupted, COUNTS, seed=SEED, mirror_fraction=0.5,
                               progress=False)
    assert hashes(resumed.root) == hashes(uninterrupted)


def test_files_follow_the_umask_and_no_temporaries_remain(resumed):
    for folder, _, names in os.walk(resumed.root):
        for name in names:
            assert not name.startswith(".tmp_"), name
            mode = stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode)
            assert mode == 0o644, (name, oct(mode))
