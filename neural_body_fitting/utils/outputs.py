"""The rule for every path a user names as an output: nothing of theirs is replaced.

A folder or file we write carries a marker, `.nbf_output.json` (inside a
folder; beside a file, as `.<name>.nbf_output.json`), naming the command and
the library version. `claim` accepts a path that does not exist, an empty
folder, or an output of ours (to replace only with `overwrite`, or to add to
with `reuse`, for commands that resume); anything else is the user's and is
refused before anything is written.
"""
import json
import os

from neural_body_fitting.utils import files

MARKER = ".nbf_output.json"


class OutputRefused(ValueError):
    """An output path holds something that may not be replaced."""


def marker_path(path):
    """The marker of the folder or file `path` (which exists)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return os.path.join(path, MARKER)
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{MARKER}")


def written_by(path):
    """The command that wrote the output at `path` (from its marker), or None if not ours."""
    marker = marker_path(path)
    try:
        with open(marker, encoding="utf-8") as stream:
            return json.load(stream).get("command", "nbf")
    except (OSError, ValueError, AttributeError):
        return None


def claim(path, argument, overwrite=False, reuse=False):
    """Checks that the output `path` (given as `argument`, e.g. '--output') may be written.

    Raises OutputRefused, naming the path and what to do, for an existing
    file or non-empty folder without our marker, and for one of ours unless
    `overwrite` (it is replaced) or `reuse` (the command adds to it).
    """
    path = os.fspath(path)
    if not os.path.exists(path) or (os.path.isdir(path) and not os.listdir(path)):
        return
    command = written_by(path)
    kind = "folder" if os.path.isdir(path) else "file"
    if command is None:
        raise OutputRefused(
            f"{argument}={path}: this {kind} exists and was not written by this library (it has "
            f"no {os.path.basename(marker_path(path))}); nothing was changed. Name a new path, "
            "or move it away yourself")
    if not (overwrite or reuse):
        raise OutputRefused(f"{argument}={path}: holds an earlier output of {command}; pass "
                            "--overwrite to replace it")


def mark(path, command):
    """Marks the existing folder or file `path` as an output of `command`."""
    from neural_body_fitting import __version__

    files.atomic_write(marker_path(path), json.dumps(
        {"command": command, "version": __version__}, indent=2) + "\n")
