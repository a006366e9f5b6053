"""Restoring checkpoints with errors that name the file.

A truncated or corrupt checkpoint makes TensorFlow fail with messages such as
"Read less bytes than requested" that name no file. Here every failure names
the checkpoint; when training resumes, an unreadable latest checkpoint falls
back to the newest readable earlier one, with a warning that names both.
"""
import glob

import tensorflow as tf
from absl import logging


class CheckpointError(ValueError):
    """A checkpoint could not be read."""


def _files_of(prefix):
    return sorted(glob.glob(f"{glob.escape(prefix)}.*"))


def restore(checkpoint, path):
    """Restores `checkpoint` (a tf.train.Checkpoint) from `path`; CheckpointError naming it."""
    try:
        status = checkpoint.restore(path)
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError, IndexError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path}: unreadable checkpoint (files {_files_of(path)}): "
                              f"{detail}") from error
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
