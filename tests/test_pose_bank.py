"""BVH reading, retargeting to SMPL, the pose bank and the motion-capture pose prior."""
import os

import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants, geometry
from neural_body_fitting.body import bvh, pose_bank, pose_prior, retarget, smpl
from neural_body_fitting.body.synthetic import synthetic_body_model
from neural_body_fitting.data import pose_bank_builder

TINY_CLIP = os.path.join(os.path.dirname(__file__), "data", "tiny_clip.bvh")
# SMPL's hands: the written skeleton gives them no direction (no child, no auxiliary
# bone), so nothing determines their rotation; they keep their parent's (identity).
UNDETERMINED = (22, 23)


def test_a_hand_written_clip_parses_with_known_joint_positions():
    clip = bvh.read_bvh(TINY_CLIP)
    assert clip.skeleton.names == ("hips", "spine", "spine/end", "leg", "leg/end")
    assert clip.motion.shape == (2, 12) and clip.frame_time == pytest.approx(0.1)
    positions, rotations = bvh.forward_kinematics(clip)
    np.testing.assert_allclose(positions[0], [[0, 0, 0], [0, 10, 0], [0, 15, 0], [5, 0, 0],
                                              [5, -10, 0]], atol=1e-9)
    # Frame 1: the root moved to (1, 2, 3) and turned 90 degrees about z; the spine
    # turned 90 degrees about its x.
    np.testing.assert_allclose(positions[1], [[1, 2, 3], [-9, 2, 3], [-9, 2, 8], [1, 7, 3],
                                              [11, 7, 3]], atol=1e-9)
    np.testing.assert_allclose(rotations[1, 0], Rotation.from_euler("z", 90, degrees=True)
                               .as_matrix(), atol=1e-12)


def _damaged(tmp_path, text, name="bad.bvh"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("damage, message", [
    (lambda t: t[:t.rindex("\n1 2 3")], r"bad\.bvh:28: 'Frames: 2' but 1 frame lines follow: "
                                        "the file is truncated"),
    (lambda t: t[:t.index("  JOINT leg")], r"bad\.bvh:.*truncated"),
    (lambda t: t[:t.index("MOTION")], r"bad\.bvh.*no MOTION section"),
    (lambda t: t.replace("0 0 90 0 0 0", "0 0 nan 0 0 0"),
     r"bad\.bvh:29: frame 1: channel 'spine Xrotation' is nan"),
    (lambda t: t.replace("1 2 3 90", "1 2 90"), r"bad\.bvh:29: frame 1 has 11 values"),
])
def test_bad_clips_are_named_with_the_line(tmp_path, damage, message):
    with open(TINY_CLIP) as stream:
        text = stream.read()
    with pytest.raises(bvh.BvhError, match=message):
        bvh.read_bvh(_damaged(tmp_path, damage(text)))


def test_a_joint_the_map_needs_is_named():
    clip = bvh.read_bvh(TINY_CLIP)
    with pytest.raises(bvh.BvhError, match=r"tiny_clip\.bvh: joint 'CC_Base_Pelvis', which "
                       r"the joint map 'cmu_cc_base' needs for SMPL's pelvis, is not in"):
        retarget.point_weights(retarget.CMU_CC_MAP, clip)


def test_differentiable_euler_angles_equal_scipy():
    rotations = Rotation.random(64, random_state=0)
    for order in ("xyz", "yzx", "zxy", "xzy", "zyx", "yxz"):
        axes = ["xyz".index(axis) for axis in order]
        ours = retarget.euler_angles(tf.constant(rotations.as_matrix()), order).numpy()
        np.testing.assert_allclose(ours[:, axes], rotations.as_euler(order), atol=1e-9)


# --- Retargeting SMPL's own skeleton ----------------------------------------------------

AUX_OFFSETS = {"a": (0.05, 0.0, 0.0), "b": (0.0, 0.0, 0.05)}


def _smpl_skeleton_bvh(rest_joints, relative):
    """BVH text of SMPL's skeleton posed by relative rotations [F, 24, 3, 3], with two
    auxiliary joints on every segment but the hands."""
    children = {j: [int(c) for c in np.flatnonzero(constants.SMPL_PARENTS == j)]
                for j in range(24)}

    order = []  # The joints with channels as the file lists them: depth first.

    def joint(j, depth):
        order.append(j)
        parent = constants.SMPL_PARENTS[j]
        offset = rest_joints[j] - (rest_joints[parent] if parent >= 0 else 0.0)
        pad = "  " * depth
        channels = ("6 Xposition Yposition Zposition " if parent < 0 else "3 ") + (
            "Zrotation Yrotation Xrotation")
        lines = [f"{pad}{'ROOT' if parent < 0 else 'JOINT'} {constants.JOINT_NAMES[j]}",
                 f"{pad}{{", f"{pad}  OFFSET {' '.join(f'{v:.6f}' for v in offset)}",
                 f"{pad}  CHANNELS {channels}"]
        for c in children[j]:
            lines += joint(c, depth + 1)
        if j not in UNDETERMINED:
            for tag, aux in AUX_OFFSETS.items():
                lines += [f"{pad}  JOINT aux_{tag}_{constants.JOINT_NAMES[j]}", f"{pad}  {{",
                          f"{pad}    OFFSET {' '.join(map(str, aux))}",
                          f"{pad}    CHANNELS 0", f"{pad}  }}"]
        if not children[j]:
            lines += [f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 0.02 0",
                      f"{pad}  }}"]
        return lines + [f"{pad}}}"]

    hierarchy = joint(0, 0)
    angles = Rotation.from_matrix(relative[:, order].reshape(-1, 3, 3)).as_euler(
        "ZYX", degrees=True)
    motion = np.concatenate([np.zeros((len(relative), 3)),
                             angles.reshape(len(relative), -1)], axis=1)
    return "\n".join(["HIERARCHY"] + hierarchy + [
        "MOTION", f"Frames: {len(relative)}", "Frame Time: 0.1"]
        + [" ".join(f"{v:.6f}" for v in row) for row in motion]) + "\n"


def _smpl_skeleton_map():
    names = constants.JOINT_NAMES
    auxiliary = tuple(retarget.AuxiliaryBone(j, names[j], f"aux_{tag}_{names[j]}", offset)
                      for j in range(24) if j not in UNDETERMINED
                      for tag, offset in AUX_OFFSETS.items())
    return retarget.JointMap("smpl_skeleton", names, auxiliary)


def _bank_like_rotations(count):
    """[count, 24, 3, 3] relative rotations: shipped bank poses that keep to the limits
    (so the soft limits term does not pull the fit away), the pelvis turned."""
    bank = pose_bank.read_pose_bank()
    excess = retarget.limit_excess(tf.constant(Rotation.from_rotvec(
        bank.poses.reshape(-1, 3)).as_matrix().reshape(-1, 24, 3, 3), tf.float32)).numpy()
    poses = bank.poses[np.argsort(excess.max((1, 2)))[:count]].astype(np.float64)
    poses[:, 0] = (Rotation.from_euler("y", np.linspace(-150, 150, count)[:, None], degrees=True)
                   * Rotation.from_rotvec(poses[:, 0])).as_rotvec()
    return Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(count, 24, 3, 3)


@pytest.fixture(scope="module")
def layer():
    return smpl.SMPL(synthetic_body_model(), jit_compile=False)


def test_retargeting_recovers_the_rotations_that_posed_the_skeleton(tmp_path, layer):
    rest_joints = layer.body_model.J_regressor @ layer.body_model.v_template
    relative = _bank_like_rotations(8)
    path = _damaged(tmp_path, _smpl_skeleton_bvh(rest_joints, relative), "smpl.bvh")
    clip = bvh.read_bvh(path)
    positions, _ = bvh.forward_kinematics(clip)
    joint_map = _smpl_skeleton_map()
    joints, targets = retarget.mapped_points(joint_map, clip, positions)
    result = retarget.retarget(layer, joint_map, joints, targets, np.zeros(7, bool))
    error = np.degrees((Rotation.from_matrix(result.relative.reshape(-1, 3, 3)).inv()
                        * Rotation.from_matrix(relative.reshape(-1, 3, 3))).magnitude()
                       ).reshape(8, 24)
    determined = [j for j in range(24) if j not in UNDETERMINED]
    assert error[:, determined].max() < 3.0, error.max(0).round(2)
    # The hands get their parent's rotation: identity relative rotations.
    hands = Rotation.from_matrix(result.relative[:, UNDETERMINED].reshape(-1, 3, 3))
    assert np.degrees(hands.magnitude()).max() < 1.0
    assert result.scale == pytest.approx(1.0)
    assert result.direction_errors.shape == (8, 23 + len(joint_map.auxiliary))
    assert np.median(result.direction_errors) < 1.0 and result.joint_errors.max() < 0.02


# --- The pose bank -------------------------------------------------------------------------


def _small_bank(count=40, seed=0):
    poses = pose_prior.sample_poses(np.random.default_rng(seed), count).reshape(count, 24, 3)
    return pose_bank.PoseBank(poses=poses, clip_ids=np.zeros(count, int),
                              mirrored=np.zeros(count, bool), test_poses=poses[:5],
                              test_clip_ids=np.zeros(5, int), record={"clips": ["a"]})


def test_a_bank_round_trips_within_its_float16_error(tmp_path):
    bank = _small_bank()
    path = tmp_path / "bank.npz"
    record = pose_bank.write_pose_bank(path, bank)
    again = pose_bank.read_pose_bank(path)
    assert record["stored_error_degrees"] <= 0.5 and again.record == record
    assert again.poses.dtype == np.float32 and again.record["clips"] == ["a"]
    error = (Rotation.from_rotvec(bank.poses.reshape(-1, 3)).inv()
             * Rotation.from_rotvec(again.poses.reshape(-1, 3).astype(np.float64))).magnitude()
    assert np.degrees(error).max() <= record["stored_error_degrees"] + 1e-9
    assert pose_bank.CMU_CREDIT in open(pose_bank.notice_path(path)).read()


def test_the_shipped_bank_is_small_credited_and_records_its_source():
    bank = pose_bank.read_pose_bank()
    assert os.path.getsize(pose_bank.SHIPPED_PATH) <= 5 * 2 ** 20
    record = bank.record
    assert record["body_model"] == "synthetic:0" and record["joint_map"] == "cmu_cc_base"
    assert record["stored_error_degrees"] <= 0.5 and len(record["clips"]) == 58
    assert set(record["held_out_clips"]) == {record["clips"][k] for k in bank.test_clip_ids}
    assert not set(record["held_out_clips"]) & {record["clips"][k] for k in bank.clip_ids}
    assert pose_bank.CMU_CREDIT in open(pose_bank.notice_path(pose_bank.SHIPPED_PATH)).read()


def test_mirrored_bank_poses_keep_the_soft_limits_term_of_their_originals():
    poses = pose_bank.read_pose_bank().poses[:500].reshape(-1, 72)
    mirrored = geometry.mirror_axis_angle(poses).numpy()

    def excess(pose):
        matrices = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(-1, 24, 3, 3)
        return retarget.limit_excess(tf.constant(matrices, tf.float32)).numpy()

    original, of_mirror = excess(poses), excess(mirrored)
    # The limits are mirror-symmetric: a mirrored joint leaves them by as much as its twin.
    np.testing.assert_allclose(of_mirror[:, constants.MIRROR_JOINTS], original, atol=2e-4)
    assert np.mean(of_mirror ** 2) == pytest.approx(np.mean(original ** 2), rel=1e-3)


def test_repeated_and_frozen_poses_count_once():
    rng = np.random.default_rng(0)
    distinct = pose_prior.sample_poses(rng, 5).reshape(5, 24, 3)
    t_pose = np.zeros((1, 24, 3))
    frozen = distinct[2] + rng.normal(0, np.radians(0.2), (30, 24, 3))
    poses = np.concatenate([t_pose.repeat(10, 0), distinct[:2], frozen, distinct[3:]])
    kept = pose_bank.distinct_poses(poses, 3.0)
    assert len(kept) == 6 and kept[0] == 0  # The T-pose once, the frozen stretch once.
    assert pose_bank.pose_distances(poses[kept], poses[kept])[np.triu_indices(6, 1)].min() >= 3


def test_a_clip_with_a_t_pose_and_a_frozen_stretch_does_not_flood_the_bank(tmp_path, layer):
    rest_joints = layer.body_model.J_regressor @ layer.body_model.v_template
    moving = _bank_like_rotations(4)
    relative = np.concatenate([np.broadcast_to(np.eye(3), (5, 24, 3, 3)), moving[:2],
                               np.repeat(moving[2:3], 12, 0), moving[3:]])
    folder = tmp_path / "clips"
    folder.mkdir()
    assert not pose_bank_builder.is_held_out("walk")
    _damaged(folder, _smpl_skeleton_bvh(rest_joints, relative), "walk.bvh")
    record = pose_bank_builder.build_pose_bank(
        str(folder), str(tmp_path / "bank.npz"), joint_map=_smpl_skeleton_map(), fps=10,
        log=lambda message: None)
    bank = pose_bank.read_pose_bank(tmp_path / "bank.npz")
    assert record["frames_retargeted"] == 20
    # The T-pose (its own mirror image) once; the four others and their mirror images.
    assert len(bank.poses) <= 1 + 2 * 4 and int(bank.mirrored.sum()) <= 4


def test_the_mocap_prior_mixes_bank_and_limit_poses_and_records_itself():
    prior = pose_prior.PosePrior(limits_fraction=0.0, noise_degrees=0.0)
    poses = prior.sample(np.random.default_rng(0), 64).reshape(64, 24, 3)
    bank = pose_bank.read_pose_bank().poses
    nearest = pose_bank.pose_distances(poses[:, 1:], bank[:, 1:]).min(1)
    assert nearest.max() < 0.1  # Without noise, body poses are bank poses.
    limits_only = pose_prior.PosePrior(limits_fraction=1.0).sample(np.random.default_rng(0), 64)
    assert pose_prior.within_limits(limits_only).all()
    assert prior.record()["kind"] == "mocap" and prior.record()["bank_poses"] == len(bank)
    with pytest.raises(ValueError, match="pose prior: expected one of"):
        pose_prior.PosePrior("walking")
