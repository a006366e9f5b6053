"""Atomic file writes: a file is complete or absent, never half-written.

Every writer in the library goes through `atomic_open`: it writes to a hidden
temporary name in the target's folder and renames it over the target only
after the write succeeded, so an interrupted or failed write leaves the
previous file untouched and no temporary behind. New files get the usual
mode (0666 minus the umask), unlike `tempfile.mkstemp`'s 0600. A full disk
is named: the file being written and the space left.
"""
import contextlib
import errno
import json
import os
import shutil
import uuid

# Errors that mean the device (or the user's quota) is full.
DISK_FULL_ERRORS = (errno.ENOSPC, errno.EDQUOT)


def free_space(path):
    """'<n> MB free in <folder>': the space left where `path` is (or would be) written."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return f"{shutil.disk_usage(folder).free / 2 ** 20:.1f} MB free in {folder}"


def disk_full_error(path, error):
    """An OSError like `error` (a full disk) that names `path` and the space left."""
    return OSError(error.errno, f"{path}: no space left on the device to write it "
                                f"({free_space(path)}); free some space and run the command "
                                "again (what was there before is unchanged)")


@contextlib.contextmanager
def atomic_path(path):
    """Context manager yielding a temporary path beside `path`, renamed over it on success.

    For writers that need a file name (Keras weights, h5py); the temporary
    name ends with the target's name, so suffix checks still pass.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp_path = os.path.join(directory, f".tmp_{uuid.uuid4().hex}_{os.path.basename(path)}")
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp_path)
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRORS:
            raise disk_full_error(path, error) from error
        raise


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Context manager yielding a stream ("wb" or "w") that replaces `path` on success."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open: mode must be 'wb' or 'w', got {mode!r}")
    with atomic_path(path) as tmp_path:
        # Mode "x" creates the file with 0666 minus the umask, and never reuses one.
        with open(tmp_path, mode.replace("w", "x"),
                  **({} if "b" in mode else {"encoding": "utf-8"})) as stream:
            yield stream


def atomic_write_all(payloads):
    """Writes {path: payload (bytes or str)} as one result: every file or none.

    All payloads go to their temporary files first; the renames follow only
    after every write succeeded, so a failure leaves all previous files as they were.
    """
    with contextlib.ExitStack() as renames:
        for path, payload in payloads.items():
            mode = "wb" if isinstance(payload, bytes) else "w"
            renames.enter_context(atomic_open(path, mode)).write(payload)
    return list(payloads)


def atomic_write(path, payload):
    """Writes `payload` (bytes or str) to `path` atomically; returns `path`."""
    with atomic_open(path, "wb" if isinstance(payload, bytes) else "w") as stream:
        stream.write(payload)
    return os.fspath(path)


def read_json_object(path, what="JSON file"):
    """The dict a JSON file holds; ValueError naming `path` for a truncated, damaged or
    non-object file (what such files are: a half-written one from before atomic writes, an edit)."""
    try:
        with open(path, encoding="utf-8") as stream:
            content = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable {what} ({error}); remove or restore it") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: a {what} holds a JSON object, got {type(content).__name__}; "
                         "remove or restore it")
    return content
