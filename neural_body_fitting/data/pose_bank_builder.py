"""Builds a pose bank (`body.pose_bank`) from a folder of BVH motion-capture clips.

Every clip is read (`body.bvh`), subsampled to about `fps` frames a second and
retargeted to the body model's SMPL skeleton through a joint map
(`body.retarget`), all clips' frames in one batch. The pelvis keeps its lean
but loses its heading. Whole clips whose name hashes to 0 modulo
`HELD_OUT_MODULUS` are held out as the bank's test poses: the rule depends on
the clip's name only, so a folder with more clips holds out the same ones
again. The others are mirrored left/right (`geometry.mirror_axis_angle`) and,
together with their mirror images, thinned to poses at least
`min_distance_degrees` apart (`pose_bank.distinct_poses`), so a T-pose, a
frozen stretch or a walk met in many clips does not flood the bank.
"""
import glob
import os
import time
import zlib

import numpy as np
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants, geometry
from neural_body_fitting.body import bvh, pose_bank, retarget
from neural_body_fitting.body.resolve import fingerprint, resolve_body_model

HELD_OUT_MODULUS = 10


def is_held_out(clip_name):
    """True for the clips (by file name without extension) kept out of the bank."""
    return zlib.crc32(clip_name.encode()) % HELD_OUT_MODULUS == 0


def clip_names(bvh_dir):
    """Sorted paths of the .bvh files in `bvh_dir` (ValueError naming it when there are none)."""
    paths = sorted(glob.glob(os.path.join(bvh_dir, "*.bvh")))
    if not paths:
        raise ValueError(f"{bvh_dir}: no .bvh files in the folder")
    return paths


def subsampled_points(path, joint_map, fps):
    """(joints [F, 24, 3], directions [F, D, 3]) of the clip's frames about 1/fps s apart."""
    clip = bvh.read_bvh(path)
    retarget.point_weights(joint_map, clip)  # A joint the map needs is missing: fail first.
    step = max(1, round(1.0 / (clip.frame_time * fps)))
    kept = bvh.Clip(clip.path, clip.skeleton, clip.frame_time, clip.motion[::step])
    positions, _ = bvh.forward_kinematics(kept)
    return retarget.mapped_points(joint_map, kept, positions)


def body_poses(relative):
    """[F, 24, 3] axis-angle of relative rotations [F, 24, 3, 3], the pelvis without heading."""
    relative = relative.copy()
    relative[:, 0] = pose_bank.remove_heading(relative[:, 0])
    return Rotation.from_matrix(relative.reshape(-1, 3, 3)).as_rotvec().reshape(
        -1, constants.NUM_JOINTS, 3)


def error_summary(joint_map, result):
    """{direction name: [median, 95th percentile] degrees}, {joint: [median, 95th] mm}."""
    def percentiles(values, scale=1.0):
        return [round(float(v) * scale, 2) for v in np.percentile(values, [50, 95])]

    directions = {name: percentiles(result.direction_errors[:, k])
                  for k, name in enumerate(retarget.direction_names(joint_map))}
    joints = {name: percentiles(result.joint_errors[:, k], 1000.0)
              for k, name in enumerate(constants.JOINT_NAMES)}
    return {"direction_degrees": directions, "joint_mm": joints}


def build_pose_bank(bvh_dir, output, body_model=None, joint_map=retarget.CMU_CC_MAP,
                    fps=pose_bank.DEFAULT_FPS,
                    min_distance_degrees=pose_bank.DEFAULT_MIN_DISTANCE_DEGREES,
                    fit=retarget.FitWeights(), source="CMU Graphics Lab Motion Capture Database",
                    log=print):
    """Builds a bank from the clips in `bvh_dir` and writes it to `output`; returns its record."""
    from neural_body_fitting.body import smpl  # TensorFlow only where a bank is built.

    start = time.perf_counter()
    paths = clip_names(bvh_dir)
    names = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    points = [subsampled_points(path, joint_map, fps) for path in paths]
    clip_ids = np.concatenate([np.full(len(j), k) for k, (j, _) in enumerate(points)])
    joints = np.concatenate([j for j, _ in points])
    targets = np.concatenate([d for _, d in points])
    log(f"Read {len(paths)} clips: {len(joints)} frames at {fps:g} fps "
        f"({time.perf_counter() - start:.0f} s)")
    model = resolve_body_model(body_model)
    result = retarget.retarget(smpl.SMPL(model, jit_compile=False), joint_map, joints, targets,
                               clip_ids[1:] == clip_ids[:-1], fit)
    log(f"Retargeted in {time.perf_counter() - start:.0f} s")
    poses = body_poses(result.relative)
    held_out = np.array([is_held_out(name) for name in names])[clip_ids]
    train, train_clips = poses[~held_out], clip_ids[~held_out]
    mirrored = geometry.mirror_axis_angle(train.reshape(-1, 72)).numpy().reshape(train.shape)
    candidates = np.concatenate([train, mirrored])
    kept = pose_bank.distinct_poses(candidates, min_distance_degrees)
    test_kept = pose_bank.distinct_poses(poses[held_out], min_distance_degrees)
    record = {
        "name": os.path.basename(output), "source": source, "credit": pose_bank.CMU_CREDIT,
        "body_model": model.name, "body_model_fingerprint": fingerprint(model),
        "joint_map": joint_map.name, "clips": names,
        "held_out_clips": [n for n in names if is_held_out(n)], "fps": fps,
        "min_distance_degrees": min_distance_degrees, "frames_retargeted": int(len(poses)),
        "candidates_with_mirrors": int(len(candidates)), "retargeting_errors":
            error_summary(joint_map, result),
    }
    bank = pose_bank.PoseBank(
        poses=candidates[kept], clip_ids=np.concatenate([train_clips, train_clips])[kept],
        mirrored=np.arange(len(candidates))[kept] >= len(train),
        test_poses=poses[held_out][test_kept], test_clip_ids=clip_ids[held_out][test_kept],
        record=record)
    written = pose_bank.write_pose_bank(output, bank)
    log(f"Pose bank: {len(bank.poses)} poses ({int(bank.mirrored.sum())} mirrored) of "
        f"{len(candidates)}, {len(bank.test_poses)} held-out test poses from "
        f"{len(record['held_out_clips'])} clips; stored error "
        f"{written['stored_error_degrees']:.3f} deg -> {output} "
        f"({time.perf_counter() - start:.0f} s)")
    return written
