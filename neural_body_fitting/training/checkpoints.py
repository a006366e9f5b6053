"""Saving and restoring checkpoints with errors that name the file.

A truncated or corrupt checkpoint makes TensorFlow fail with messages such as
"Read less bytes than requested" that name no file. Here every failure names
the checkpoint; when training resumes, an unreadable latest checkpoint falls
back to the newest readable earlier one, with a warning that names both. A
save that fails (a full disk) names the checkpoint and the space left, and
removes what it had written (`<prefix>_temp/`, partial files) so the disk
is not kept full; the earlier checkpoints are untouched.
"""
import contextlib
import glob
import os
import shutil

import tensorflow as tf
from absl import logging

from neural_body_fitting.utils import files

# The file name of a run's checkpoints: <model_dir>/ckpt-<step>.{index,data-*}.
CHECKPOINT_NAME = "ckpt"

class CheckpointError(ValueError):
    """A checkpoint could not be read."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written."""


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _files_of(prefix):
    return sorted(glob.glob(f"{glob.escape(prefix)}.*"))


def restore(checkpoint, path):
    """Restores `checkpoint` (a tf.train.Checkpoint) from `path`; CheckpointError naming it."""
    try:
        status = checkpoint.restore(path)
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint (files {_files_of(path)}): "
                              f"{_first_line(error)}") from error
    return status


def restore_latest(checkpoint, manager):
    """Restores the newest readable checkpoint of `manager`; returns its path or None.

    Falls back to earlier checkpoints only with a warning; raises
    CheckpointError when checkpoints exist but none is readable.
    """
    candidates = list(reversed(manager.checkpoints))
    failures = []
    for path in candidates:
        try:
            restore(checkpoint, path)
        except CheckpointError as error:
            failures.append(str(error))
            continue
        if failures:
            logging.warning("Resuming from %s because newer checkpoints are unreadable:\n  %s",
                            path, "\n  ".join(failures))
        else:
            logging.info("Resumed from %s", path)
        return path
    if failures:
        raise CheckpointError("no readable checkpoint to resume from:\n  " + "\n  ".join(failures))
    return None


def _remove_partial_checkpoint(prefix):
    # TensorFlow writes the shards to <prefix>_temp/, then merges them into <prefix>.*.
    shutil.rmtree(f"{prefix}_temp", ignore_errors=True)
    for path in _files_of(prefix):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def save(manager, step):
    """Saves checkpoint `step` of `manager` (made with `CHECKPOINT_NAME`); returns its path.

    A failed save removes its partial files and raises CheckpointSaveError
    naming the checkpoint, the space left and the newest checkpoint kept.
    """
    prefix = os.path.join(manager.directory, f"{CHECKPOINT_NAME}-{step}")
    try:
        return manager.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as error:
        _remove_partial_checkpoint(prefix)
        raise CheckpointSaveError(
            f"{prefix}: saving the checkpoint failed ({_first_line(error)}); "
            f"{files.free_space(prefix)}. Its partial files are removed; the newest checkpoint "
            f"kept is {manager.latest_checkpoint}") from error
