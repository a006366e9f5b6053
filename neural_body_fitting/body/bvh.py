"""BVH motion-capture files: the skeleton, the motion and forward kinematics, in NumPy.

A BVH file has a HIERARCHY (joints with an OFFSET from their parent and the
CHANNELS the motion animates; an `End Site` marks the tip of a leaf bone) and a
MOTION section (a frame count, the frame time and one line of channel values
per frame). Rotation channels are in degrees and compose in the order they are
listed (`Zrotation Yrotation Xrotation`: R = Rz Ry Rx); a joint's local
transform is its offset plus its position channels, then its rotation, and a
joint's global transform is its parent's times its local one.

End Sites become joints of their own, named '<parent>/end', without channels:
they are the tips that leaf bones point to.

Errors are `BvhError`s naming the file and, where there is one, the line.
"""
import dataclasses
import os

import numpy as np
from scipy.spatial.transform import Rotation

_ROTATION_AXES = {"Xrotation": "X", "Yrotation": "Y", "Zrotation": "Z"}
_POSITION_AXES = {"Xposition": 0, "Yposition": 1, "Zposition": 2}
END_SITE_SUFFIX = "/end"


class BvhError(ValueError):
    """A BVH file that cannot be read: the message names the file and the line."""


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """The joints of a BVH hierarchy, parents before children.

    names: [J] joint names (End Sites as '<parent>/end').
    parents: [J] int parent indices, -1 for the root.
    offsets: [J, 3] offset of each joint from its parent, in the file's units.
    channels: [J] tuples of channel names ('Xposition', 'Zrotation', ...).
    """
    names: tuple
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple

    def index(self, name):
        return self.names.index(name)

    @property
    def channel_starts(self):
        """[J] int: the column of each joint's first channel in a motion row."""
        return np.cumsum([0] + [len(c) for c in self.channels[:-1]])


@dataclasses.dataclass(frozen=True)
class Clip:
    """A BVH file's contents: `motion` [F, C] float64 channel values per frame."""
    path: str
    skeleton: Skeleton
    frame_time: float
    motion: np.ndarray

    @property
    def num_frames(self):
        return len(self.motion)


def _fail(path, line, message):
    raise BvhError(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def _parse_hierarchy(path, lines):
    """(Skeleton, index of the line after the hierarchy) from the file's lines [(number, text)]."""
    names, parents, offsets, channels = [], [], [], []
    stack = []  # Indices of the open joints.
    pending = None  # The joint whose '{' comes next.
    position = 0
    for position, (number, text) in enumerate(lines):
        words = text.split()
        keyword = words[0]
        if keyword in ("ROOT", "JOINT", "End"):
            if keyword == "ROOT" and (stack or names):
                _fail(path, number, "a second ROOT (one skeleton per file)")
            if keyword != "ROOT" and not stack:
                _fail(path, number, f"{keyword} outside of a joint")
            if len(words) < 2:
                _fail(path, number, f"{keyword} without a name")
            parent = stack[-1] if stack else -1
            name = (names[parent] + END_SITE_SUFFIX if keyword == "End"
                    else " ".join(words[1:]))
            if name in names:
                _fail(path, number, f"joint '{name}' appears twice")
            names.append(name)
            parents.append(parent)
            offsets.append(None)
            channels.append(())
            pending = len(names) - 1
        elif keyword == "{":
            if pending is None:
                _fail(path, number, "'{' without a joint")
            stack.append(pending)
            pending = None
        elif keyword == "}":
            if not stack:
                _fail(path, number, "'}' without an open joint")
            closed = stack.pop()
            if offsets[closed] is None:
                _fail(path, number, f"joint '{names[closed]}' has no OFFSET")
            if not stack:
                return _skeleton(names, parents, offsets, channels), position + 1
        elif keyword == "OFFSET":
            offsets[stack[-1]] = _numbers(path, number, words[1:], 3, "OFFSET")
        elif keyword == "CHANNELS":
            joint = stack[-1]
            count = _numbers(path, number, words[1:2], 1, "CHANNELS count")[0]
            named = tuple(words[2:])
            if count != len(named) or any(c not in _ROTATION_AXES and c not in _POSITION_AXES
                                          for c in named):
                _fail(path, number, f"joint '{names[joint]}': CHANNELS {' '.join(words[1:])} "
                      "is not a count followed by that many of X/Y/Z position/rotation")
            channels[joint] = named
        elif keyword == "MOTION":
            break
        else:
            _fail(path, number, f"unexpected '{keyword}' in the HIERARCHY")
    open_joint = f" (joint '{names[stack[-1]]}' is not closed)" if stack else ""
    _fail(path, lines[position][0] if lines else 0,
          f"the HIERARCHY ends before its last '}}'{open_joint}: the file is truncated")


def _numbers(path, line, words, count, what):
    try:
        values = [float(word) for word in words]
    except ValueError:
        values = []
    if len(values) != count:
        _fail(path, line, f"{what}: expected {count} numbers, got '{' '.join(words)}'")
    return values


def _skeleton(names, parents, offsets, channels):
    return Skeleton(tuple(names), np.array(parents, np.int64),
                    np.array(offsets, np.float64).reshape(-1, 3), tuple(channels))


def _parse_motion(path, lines, skeleton):
    """(frame_time, motion [F, C]) from the lines from 'MOTION' on."""
    header = [(number, text.split()) for number, text in lines[:3]]
    if not header or header[0][1] != ["MOTION"]:
        _fail(path, lines[0][0] if lines else 0,
              "no MOTION section after the HIERARCHY: the file holds no frames")
    if len(header) < 3:
        _fail(path, header[-1][0], "the MOTION section ends before 'Frames:' and "
              "'Frame Time:': the file is truncated")
    (frames_line, frames_words), (time_line, time_words) = header[1], header[2]
    if frames_words[:1] != ["Frames:"]:
        _fail(path, frames_line, f"expected 'Frames: <count>', got '{' '.join(frames_words)}'")
    if time_words[:2] != ["Frame", "Time:"]:
        _fail(path, time_line, f"expected 'Frame Time: <seconds>', got '{' '.join(time_words)}'")
    num_frames = int(_numbers(path, frames_line, frames_words[1:], 1, "Frames")[0])
    frame_time = _numbers(path, time_line, time_words[2:], 1, "Frame Time")[0]
    if frame_time <= 0:
        _fail(path, time_line, f"Frame Time must be positive, got {frame_time}")
    rows = lines[3:]
    num_channels = sum(len(c) for c in skeleton.channels)
    if len(rows) < num_frames:
        last = rows[-1][0] if rows else time_line
        _fail(path, last, f"'Frames: {num_frames}' but {len(rows)} frame lines follow: "
              "the file is truncated")
    rows = rows[:num_frames]
    try:
        motion = np.array(" ".join(text for _, text in rows).split(), np.float64)
    except ValueError:
        motion = None
    if motion is None or motion.size != num_frames * num_channels:
        for frame, (number, text) in enumerate(rows):  # Name the first bad line.
            values = text.split()
            if len(values) != num_channels:
                _fail(path, number, f"frame {frame} has {len(values)} values, expected "
                      f"{num_channels} (one per channel): the line is cut short or damaged")
            _numbers(path, number, values, num_channels, f"frame {frame}")
    motion = motion.reshape(num_frames, num_channels)
    bad = np.argwhere(~np.isfinite(motion))
    if len(bad):
        frame, column = bad[0]
        _fail(path, rows[frame][0], f"frame {frame}: channel {_channel_name(skeleton, column)} "
              f"is {motion[frame, column]}, not a finite number")
    return frame_time, motion


def _channel_name(skeleton, column):
    """"'joint Zrotation'" of a motion column."""
    starts = skeleton.channel_starts
    joint = int(np.searchsorted(starts, column, side="right") - 1)
    while not skeleton.channels[joint]:  # Joints without channels share their start.
        joint -= 1
    return f"'{skeleton.names[joint]} {skeleton.channels[joint][column - starts[joint]]}'"


def parse_bvh(text, path="<text>"):
    """Clip from the text of a BVH file; `path` names it in errors."""
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
             if line.strip()]
    if not lines or lines[0][1] != "HIERARCHY":
        _fail(path, lines[0][0] if lines else 0, "not a BVH file: it does not start with "
              "HIERARCHY")
    skeleton, end = _parse_hierarchy(path, lines[1:])
    frame_time, motion = _parse_motion(path, lines[1 + end:], skeleton)
    return Clip(path, skeleton, frame_time, motion)


def read_bvh(path):
    """Clip of the BVH file at `path`."""
    path = os.fspath(path)
    with open(path, encoding="utf-8", errors="replace") as stream:
        return parse_bvh(stream.read(), path)


def local_transforms(clip):
    """(local rotations [F, J, 3, 3], local translations [F, J, 3]) of every joint."""
    skeleton = clip.skeleton
    num_frames, num_joints = clip.num_frames, len(skeleton.names)
    rotations = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
    translations = np.broadcast_to(skeleton.offsets, (num_frames, num_joints, 3)).copy()
    for joint, (names, start) in enumerate(zip(skeleton.channels, skeleton.channel_starts)):
        values = clip.motion[:, start:start + len(names)]
        order = "".join(_ROTATION_AXES[c] for c in names if c in _ROTATION_AXES)
        if order:
            columns = [k for k, c in enumerate(names) if c in _ROTATION_AXES]
            # Upper-case axes: intrinsic rotations, R = R_first R_second R_third.
            rotations[:, joint] = Rotation.from_euler(order, values[:, columns],
                                                      degrees=True).as_matrix()
        for k, c in enumerate(names):
            if c in _POSITION_AXES:
                translations[:, joint, _POSITION_AXES[c]] += values[:, k]
    return rotations, translations


def forward_kinematics(clip):
    """(global positions [F, J, 3], global rotations [F, J, 3, 3]) of every joint per frame."""
    local_rotations, local_translations = local_transforms(clip)
    positions = np.empty_like(local_translations)
    rotations = np.empty_like(local_rotations)
    for joint, parent in enumerate(clip.skeleton.parents):  # Parents come first.
        if parent < 0:
            positions[:, joint] = local_translations[:, joint]
            rotations[:, joint] = local_rotations[:, joint]
        else:
            positions[:, joint] = positions[:, parent] + np.einsum(
                "fij,fj->fi", rotations[:, parent], local_translations[:, joint])
            rotations[:, joint] = rotations[:, parent] @ local_rotations[:, joint]
    return positions, rotations
