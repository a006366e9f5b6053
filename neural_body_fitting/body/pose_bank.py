"""The pose bank: SMPL body poses retargeted from motion capture, and its file.

A bank holds axis-angle poses [N, 24, 3] (SMPL's relative rotations) whose
joint 0 is the pelvis's rotation with the heading (the turn about the
vertical) removed: it keeps how the body leans (bending over, a cartwheel),
while `pose_prior` chooses where the body faces. It also holds the held-out
test poses (whole clips kept out of the bank) and a record of where it came
from: the clips, the body model and skeleton map it was retargeted with, the
retargeting errors and the credit line of the motion-capture data.

The file is an `.npz`: `poses`, `clip_ids`, `mirrored`, `test_poses`,
`test_clip_ids` and `record` (JSON). Poses are stored as float16 (their
rotation error is measured when written and recorded) and read as float32.
The bank shipped with the package (`SHIPPED_PATH`) has a NOTICE file next to it.
"""
import dataclasses
import functools
import io
import json
import os

import numpy as np
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants
from neural_body_fitting.utils import files

# How nbf-pose-bank samples clips by default (data/pose_bank_builder.py).
DEFAULT_FPS = 10.0
# Mean rotation over the 24 joints: frames of one walk 0.1 s apart differ by
# about 5-10 degrees, repeats of a standing pose by under 2.
DEFAULT_MIN_DISTANCE_DEGREES = 3.0

FORMAT = 1
SHIPPED_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets",
                            "cmu_pose_bank.npz")
CMU_CREDIT = ("The data used in this project was obtained from mocap.cs.cmu.edu.\n"
              "The database was created with funding from NSF EIA-0196217.")
_ARRAYS = ("poses", "clip_ids", "mirrored", "test_poses", "test_clip_ids")


@dataclasses.dataclass(frozen=True)
class PoseBank:
    """poses [N, 24, 3] float32 axis-angle; clip_ids [N] int (index into record['clips']);
    mirrored [N] bool; test_poses [M, 24, 3]; test_clip_ids [M]; record: dict."""
    poses: np.ndarray
    clip_ids: np.ndarray
    mirrored: np.ndarray
    test_poses: np.ndarray
    test_clip_ids: np.ndarray
    record: dict


def notice_path(path):
    """The NOTICE file that goes with a bank file: 'bank.npz' -> 'bank.NOTICE'."""
    return os.path.splitext(os.fspath(path))[0] + ".NOTICE"


def notice_text(record):
    return (f"The pose bank {record.get('name', '')} holds SMPL joint rotations retargeted "
            f"from motion-capture clips ({record.get('source', '')}).\n\n"
            f"{record.get('credit', CMU_CREDIT)}\n")


def stored_error_degrees(poses, dtype=np.float16):
    """The largest rotation error (degrees) of any joint of poses [N, 24, 3] stored as `dtype`."""
    poses = np.asarray(poses, np.float64).reshape(-1, 3)
    stored = poses.astype(dtype).astype(np.float64)
    difference = Rotation.from_rotvec(poses).inv() * Rotation.from_rotvec(stored)
    return float(np.degrees(difference.magnitude().max(initial=0.0)))


def write_pose_bank(path, bank, dtype=np.float16):
    """Writes `bank` and its NOTICE file (atomically, both or neither); returns the record
    written, with the storage error ('float16_error_degrees') added."""
    record = dict(bank.record, format=FORMAT, dtype=np.dtype(dtype).name,
                  stored_error_degrees=max(stored_error_degrees(bank.poses, dtype),
                                           stored_error_degrees(bank.test_poses, dtype)))
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, poses=np.asarray(bank.poses).astype(dtype),
        clip_ids=np.asarray(bank.clip_ids, np.int32), mirrored=np.asarray(bank.mirrored, bool),
        test_poses=np.asarray(bank.test_poses).astype(dtype),
        test_clip_ids=np.asarray(bank.test_clip_ids, np.int32),
        record=np.array(json.dumps(record, sort_keys=True)))
    files.atomic_write_all({os.fspath(path): buffer.getvalue(),
                            notice_path(path): notice_text(record)})
    return record


def read_pose_bank(path=None):
    """PoseBank of the file at `path` (None: the bank shipped with the package).

    Raises:
      ValueError: the file is not a pose bank (naming the file and what is wrong).
    """
    path = SHIPPED_PATH if path is None else os.fspath(path)
    return _read_cached(path, os.path.getmtime(path))


@functools.lru_cache(maxsize=4)
def _read_cached(path, mtime):
    del mtime  # Part of the cache key only: a rewritten file is read again.
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in _ARRAYS + ("record",)}
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{path}: not a pose bank file ({error})") from None
    record = json.loads(str(arrays.pop("record")))
    if record.get("format") != FORMAT:
        raise ValueError(f"{path}: pose bank format {record.get('format')!r}, this library "
                         f"reads format {FORMAT}")
    for name in ("poses", "test_poses"):
        if arrays[name].ndim != 3 or arrays[name].shape[1:] != (constants.NUM_JOINTS, 3):
            raise ValueError(f"{path}: '{name}' must be [N, 24, 3] axis-angle, got "
                             f"{arrays[name].shape}")
        arrays[name] = arrays[name].astype(np.float32)
    return PoseBank(record=record, **arrays)


def remove_heading(rotations):
    """[N, 3, 3] rotations turned about the vertical (y) so that their +z axis faces +z
    (projected on the ground plane): the lean of a body without where it faces."""
    forward = rotations[:, :, 2]
    heading = np.arctan2(forward[:, 0], forward[:, 2])
    turn = Rotation.from_rotvec(np.outer(-heading, [0.0, 1.0, 0.0])).as_matrix()
    return turn @ rotations


def pose_distances(poses, others):
    """[N, K] mean over the joints of the rotation angle (degrees) between poses
    [N, J, 3] and others [K, J, 3] (axis-angle)."""
    def quaternions(pose):
        return Rotation.from_rotvec(np.asarray(pose, np.float64).reshape(-1, 3)).as_quat(
        ).reshape(len(pose), -1, 4)

    dots = np.abs(np.einsum("njc,kjc->nkj", quaternions(poses), quaternions(others)))
    return np.degrees(2.0 * np.arccos(np.clip(dots, 0.0, 1.0))).mean(-1)


def distinct_poses(poses, min_distance_degrees, chunk=256):
    """Indices of poses [N, 24, 3] kept, in order, so that no two kept ones are closer
    than `min_distance_degrees` (`pose_distances`): a greedy pass where a pose is
    kept unless it is that close to one kept before it (a T-pose repeated, a
    frozen stretch or a walk cycle met again in another clip count once)."""
    kept = []
    for start in range(0, len(poses), chunk):
        block = np.arange(start, min(len(poses), start + chunk))
        near_kept = (pose_distances(poses[block], poses[kept]).min(1) < min_distance_degrees
                     if kept else np.zeros(len(block), bool))
        near = pose_distances(poses[block], poses[block]) < min_distance_degrees
        chosen = []
        for row in range(len(block)):
            if not near_kept[row] and not near[row, chosen].any():
                chosen.append(row)
        kept.extend(int(index) for index in block[chosen])
    return np.array(kept, np.int64)
