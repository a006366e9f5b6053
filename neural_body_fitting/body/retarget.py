"""Retargeting a motion-capture skeleton to SMPL: SMPL's 24 relative rotations per frame.

A `JointMap` says which point of the clip's skeleton stands for each of SMPL's
24 joints (a joint, or a weighted blend of joints for a joint the skeleton
lacks) and lists auxiliary bones: directions between two of the clip's joints
that move rigidly with one SMPL segment, with the direction they have in
SMPL's rest pose. They resolve what joint positions leave open: the twist of
a segment with a single child bone and the rotation of a leaf joint (toes,
hands, head). The global orientation comes from the pelvis's bones (hips and
spine).

The clip's mapped points are made root-relative, turned into SMPL's axes
(y up, +z forward, +x the body's left) and scaled so that the sum of their
bone lengths equals the body model's. Then, for all frames at once:

  1. a closed-form start: each segment's global rotation best aligns its rest
     directions (child bones, auxiliary bones) with the clip's (Wahba's
     problem); a segment with one direction keeps its parent's twist;
  2. gradient fitting through the project's SMPL layer of the joint positions
     and the bone and auxiliary directions, with a small smoothness term
     between consecutive frames of a clip and the Euler-angle limits of
     `pose_prior` as a soft term.

`bone_errors` and `joint_errors` report the result: the direction error of
every bone (degrees) and the position error of every joint after the scale
normalisation (metres).
"""
import dataclasses

import numpy as np
import tensorflow as tf
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants
from neural_body_fitting.body import bvh, pose_prior

_CHILDREN = tuple(tuple(int(c) for c in np.flatnonzero(constants.SMPL_PARENTS == joint))
                  for joint in range(constants.NUM_JOINTS))
# Below this |sin| between two directions of a segment, they do not fix its twist.
_PARALLEL = 1e-3


@dataclasses.dataclass(frozen=True)
class AuxiliaryBone:
    """A direction from `start` to `end` (point specs) that moves with SMPL segment `joint`;
    `rest_direction` [3] is where it points in the rest pose (SMPL's axes)."""
    joint: int
    start: object
    end: object
    rest_direction: tuple


@dataclasses.dataclass(frozen=True)
class JointMap:
    """How a skeleton stands for SMPL's.

    name: names the map in errors and in the pose bank's record.
    points: [24] point specs in SMPL's joint order: a joint name, or a tuple
      of (joint name, weight) pairs whose weighted mean is the point.
    auxiliary: AuxiliaryBones.
    bone_rest_directions: ((child joint, [3]), ...): where the skeleton's bone
      from the child's parent to the child points in its T-pose, where that
      differs from SMPL's rest bone (a skeleton's spine curves its own way);
      the rest pose of every direction is then SMPL's, so the skeleton's
      T-pose retargets to SMPL's rest pose.
    to_smpl_axes: [3, 3] rotation from the file's world axes to SMPL's.
    """
    name: str
    points: tuple
    auxiliary: tuple = ()
    bone_rest_directions: tuple = ()
    to_smpl_axes: tuple = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

    def point_specs(self):
        """The 24 joint points, then the start and end of every auxiliary bone."""
        return (tuple(self.points) + tuple(b.start for b in self.auxiliary)
                + tuple(b.end for b in self.auxiliary))


def _sided(side, name):
    return ("left_" if side == "L" else "right_") + name


def _cmu_cc_map():
    """The CMU clips as converted to Character Creator's skeleton (`CC_Base_*`).

    Rest directions were measured on the T-pose first frame of CMU clip 07_03
    (turned to face +z) and rounded.
    """
    def base(name, side=None):
        return f"CC_Base_{side}_{name}" if side else f"CC_Base_{name}"

    def joint(side, name):
        return constants.JOINT_NAMES.index(_sided(side, name))

    points = [None] * constants.NUM_JOINTS
    points[0], points[3], points[6] = base("Pelvis"), base("Spine01"), base("Spine02")
    # SMPL's spine3 has no CC joint: a point a quarter up the CC chest, rigid with Spine02.
    points[9] = ((base("Spine02"), 0.75), (base("NeckTwist01"), 0.25))
    points[12], points[15] = base("NeckTwist01"), base("Head")
    auxiliary = [
        AuxiliaryBone(15, base("R_Eye"), base("L_Eye"), (1.0, 0.0, 0.0)),
        AuxiliaryBone(15, base("Head"), ((base("L_Eye"), 0.5), (base("R_Eye"), 0.5)),
                      (0.0, 0.71, 0.71)),
    ]
    rest = {3: (0.0, 0.94, 0.34), 6: (0.0, 0.98, -0.21), 9: (0.0, 0.98, -0.18),
            12: (0.0, 0.98, -0.18), 15: (0.0, 0.97, 0.26)}
    for side in ("L", "R"):
        sign = 1.0 if side == "L" else -1.0
        for smpl_name, cc_name in (("hip", "Thigh"), ("knee", "Calf"), ("ankle", "Foot"),
                                   ("foot", "ToeBase"), ("shoulder", "Upperarm"),
                                   ("elbow", "Forearm"), ("wrist", "Hand"), ("hand", "Mid1")):
            points[joint(side, smpl_name)] = base(cc_name, side)
        points[joint(side, "collar")] = base("Clavicle", side)
        auxiliary += [
            AuxiliaryBone(joint(side, "foot"), base("ToeBase", side), base("MidToe1", side),
                          (0.08 * sign, 0.15, 0.99)),
            AuxiliaryBone(joint(side, "foot"), base("PinkyToe1", side), base("BigToe1", side),
                          (-0.94 * sign, 0.05, 0.35)),
            AuxiliaryBone(joint(side, "wrist"), base("Pinky1", side), base("Index1", side),
                          (0.11 * sign, 0.29, 0.95)),
            AuxiliaryBone(joint(side, "hand"), base("Mid1", side), base("Mid2", side),
                          (1.0 * sign, 0.01, 0.03)),
        ]
        rest.update({
            joint(side, "hip"): (0.97 * sign, -0.23, -0.03),
            joint(side, "knee"): (0.0, -1.0, 0.08), joint(side, "ankle"): (0.0, -1.0, -0.07),
            joint(side, "foot"): (0.12 * sign, -0.18, 0.98),
            joint(side, "collar"): (0.37 * sign, 0.91, -0.16),
            joint(side, "shoulder"): (0.98 * sign, 0.0, -0.2),
            joint(side, "elbow"): (1.0 * sign, -0.01, 0.0),
            joint(side, "wrist"): (1.0 * sign, 0.01, 0.0),
            joint(side, "hand"): (0.99 * sign, -0.02, 0.16)})
    return JointMap("cmu_cc_base", tuple(points), tuple(auxiliary), tuple(sorted(rest.items())))


CMU_CC_MAP = _cmu_cc_map()


# --- The clip's points ------------------------------------------------------------------


def point_weights(joint_map, clip):
    """[P, J] weights: the map's points (`JointMap.point_specs`) from the clip's joints.

    Raises:
      bvh.BvhError: a joint the map needs is not in the clip, naming the file,
        the joint and the SMPL joint it stands for.
    """
    names = clip.skeleton.names
    specs = joint_map.point_specs()
    weights = np.zeros((len(specs), len(names)))
    for row, spec in enumerate(specs):
        for name, weight in ((spec, 1.0),) if isinstance(spec, str) else spec:
            if name not in names:
                raise bvh.BvhError(
                    f"{clip.path}: joint '{name}', which the joint map '{joint_map.name}' "
                    f"needs for {_point_role(joint_map, row)}, is not in the file's skeleton")
            weights[row, names.index(name)] += weight
    return weights / weights.sum(1, keepdims=True)


def _point_role(joint_map, row):
    if row < constants.NUM_JOINTS:
        return f"SMPL's {constants.JOINT_NAMES[row]}"
    bone = joint_map.auxiliary[(row - constants.NUM_JOINTS) % len(joint_map.auxiliary)]
    return f"an auxiliary bone of SMPL's {constants.JOINT_NAMES[bone.joint]}"


def _unit(vectors):
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def mapped_points(joint_map, clip, positions):
    """(joints [F, 24, 3] root-relative, directions [F, D, 3]) in SMPL's axes.

    positions: [F, J, 3] from `bvh.forward_kinematics(clip)`. The directions
    are those of `directions` (SMPL's 23 bones, then the auxiliary bones), unit.
    """
    points = np.einsum("pj,fjc->fpc", point_weights(joint_map, clip), positions)
    points = points @ np.asarray(joint_map.to_smpl_axes).T
    joints = points[:, :constants.NUM_JOINTS] - points[:, :1]
    count = len(joint_map.auxiliary)
    starts = points[:, constants.NUM_JOINTS:constants.NUM_JOINTS + count]
    bones = joints[:, 1:] - joints[:, constants.SMPL_PARENTS[1:]]
    return joints, _unit(np.concatenate([bones, points[:, constants.NUM_JOINTS + count:]
                                         - starts], axis=1))


def directions(joint_map, rest_joints):
    """(segments [D] int, rest directions [D, 3]) of what the fit aligns: SMPL's 23 bones
    (each moves with its parent joint), then the map's auxiliary bones.

    rest_joints: [24, 3] the body model's; its bones are the rest directions the
    map does not override (`JointMap.bone_rest_directions`).
    """
    rest = rest_joints[1:] - rest_joints[constants.SMPL_PARENTS[1:]]
    for child, direction in joint_map.bone_rest_directions:
        rest[child - 1] = direction
    rest = np.concatenate([rest, [b.rest_direction for b in joint_map.auxiliary]]).reshape(-1, 3)
    segments = np.concatenate([constants.SMPL_PARENTS[1:], [b.joint for b in joint_map.auxiliary]])
    return segments.astype(np.int64), _unit(rest)


def direction_names(joint_map):
    """Names of the directions (`directions`): 'left_hip->left_knee', 'head aux 0', ..."""
    names = constants.JOINT_NAMES
    return ([f"{names[p]}->{names[j]}" for j, p in enumerate(constants.SMPL_PARENTS) if p >= 0]
            + [f"{names[b.joint]} aux {k}" for k, b in enumerate(joint_map.auxiliary)])


def bone_lengths(joints):
    """[..., 23]: the lengths of SMPL's bones (joint 1..23 to its parent) of joints [..., 24, 3]."""
    return np.linalg.norm(joints[..., 1:, :] - joints[..., constants.SMPL_PARENTS[1:], :],
                          axis=-1)


def skeleton_scale(joints, rest_joints):
    """How much to scale a clip's joints [F, 24, 3] so that its bones (median over frames)
    sum to the length of the body model's [24, 3]."""
    return bone_lengths(rest_joints).sum() / np.median(bone_lengths(joints), axis=0).sum()


# --- The closed-form start --------------------------------------------------------------


def _swing(source, target):
    """[F, 3, 3] smallest rotations taking unit vectors source [F, 3] to target [F, 3]."""
    axis = np.cross(source, target)
    sine = np.linalg.norm(axis, axis=-1, keepdims=True)
    cosine = np.sum(source * target, axis=-1, keepdims=True)
    angle = np.arctan2(sine, cosine)
    return Rotation.from_rotvec(axis / np.maximum(sine, 1e-12) * angle).as_matrix()


def _wahba(rest, targets):
    """[F, 3, 3] rotations G minimising Σ_d |G rest_d - targets_d|² (SVD, det +1)."""
    u, _, vt = np.linalg.svd(np.einsum("fdi,dj->fij", targets, rest))
    flip = np.ones((len(targets), 3))
    flip[:, 2] = np.sign(np.linalg.det(u @ vt))
    return (u * flip[:, None, :]) @ vt


def initial_rotations(segments, rest, targets):
    """[F, 24, 3, 3] global rotations of each segment from its directions alone.

    segments [D], rest [D, 3] (`directions`), targets [F, D, 3]. A segment with
    two directions or more is solved exactly (Wahba); one with a single
    direction swings its parent's rotation onto it (keeping the parent's
    twist); one with none takes its parent's rotation.
    """
    num_frames = len(targets)
    rotations = np.zeros((num_frames, constants.NUM_JOINTS, 3, 3))
    for joint in range(constants.NUM_JOINTS):
        parent = constants.SMPL_PARENTS[joint]
        inherited = np.broadcast_to(np.eye(3), (num_frames, 3, 3)) if parent < 0 else (
            rotations[:, parent])
        own = np.flatnonzero(segments == joint)
        spread = max((np.linalg.norm(np.cross(rest[own[0]], rest[k])) for k in own[1:]),
                     default=0.0)
        if spread > _PARALLEL:
            rotations[:, joint] = _wahba(rest[own], targets[:, own])
        elif len(own):
            source = np.einsum("fij,j->fi", inherited, rest[own[0]])
            rotations[:, joint] = _swing(source, targets[:, own[0]]) @ inherited
        else:
            rotations[:, joint] = inherited  # Nothing to go by: the parent's rotation.
    return rotations


def relative_from_global(rotations):
    """[F, 24, 3, 3] global -> relative rotations (NumPy)."""
    parents = np.maximum(constants.SMPL_PARENTS, 0)
    relative = np.swapaxes(rotations[:, parents], -1, -2) @ rotations
    relative[:, 0] = rotations[:, 0]
    return relative


# --- The soft joint limits in TensorFlow -------------------------------------------------


def euler_angles(rotations, order):
    """Extrinsic Euler angles of `order` ('xyz', 'yzx', ...) as (x, y, z) [..., 3] radians.

    Like scipy's `Rotation.as_euler(order)` (lower case: extrinsic, so R =
    R_third R_second R_first), differentiable; the middle angle is in [-π/2, π/2].
    """
    i, j, k = ("xyz".index(axis) for axis in order)
    parity = 1.0 if (j - i) % 3 == 1 else -1.0
    first = tf.atan2(parity * rotations[..., k, j], rotations[..., k, k])
    # Clipped below 1: the arcsine's gradient is infinite at ±1.
    middle = tf.asin(tf.clip_by_value(-parity * rotations[..., k, i], -1.0 + 1e-6, 1.0 - 1e-6))
    third = tf.atan2(parity * rotations[..., j, i], rotations[..., i, i])
    angles = {i: first, j: middle, k: third}
    return tf.stack([angles[0], angles[1], angles[2]], axis=-1)


def limit_excess(relative_rotations):
    """[..., 24, 3] radians by which each joint's Euler angles leave `pose_prior.LIMITS`
    (0 inside; joint 0, the global orientation, is free), of rotations [..., 24, 3, 3]."""
    angles = tf.stack([euler_angles(relative_rotations[..., joint, :, :],
                                    pose_prior.EULER_ORDER.get(joint, "xyz"))
                       for joint in range(constants.NUM_JOINTS)], axis=-2)
    limits = tf.constant(pose_prior.LIMITS, angles.dtype)
    excess = tf.nn.relu(limits[..., 0] - angles) + tf.nn.relu(angles - limits[..., 1])
    return excess * tf.constant([0.0] + [1.0] * (constants.NUM_JOINTS - 1), angles.dtype)[:, None]


# --- Gradient fitting --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FitWeights:
    """Weights of the fitting terms (positions in m², directions as 1 - cos, rotations
    as squared matrix differences, limits in rad²) and the optimiser's settings."""
    # Weak positions: the skeletons' proportions differ, and matching joints
    # exactly would bend the bones away from the clip's directions.
    positions: float = 0.1
    directions: float = 1.0
    # At 10 frames a second, neighbours differ: smoothing only settles what the
    # directions leave open (twists) consistently across frames.
    smoothness: float = 0.002
    limits: float = 0.3
    steps: int = 200
    learning_rate: float = 0.005


def fit_rotations(layer, joints, segments, rest, targets, relative, continues, weights):
    """Relative rotations [F, 24, 3, 3] refined by gradient descent through `layer`.

    Args:
      layer: the SMPL layer (its body model at betas 0 is the target skeleton).
      joints: [F, 24, 3] scale-normalised, root-relative target joints.
      segments, rest: [D], [D, 3] from `directions`; targets: [F, D, 3].
      relative: [F, 24, 3, 3] start (`initial_rotations`, made relative).
      continues: [F - 1] bool, frame f + 1 follows frame f in the same clip.
      weights: FitWeights.
    """
    dtype = tf.float32
    target_joints, target_directions = tf.constant(joints, dtype), tf.constant(targets, dtype)
    rest = tf.constant(rest, dtype)
    pairs = tf.constant(np.asarray(continues, np.float32)[:, None, None, None])
    axis_angle = tf.Variable(Rotation.from_matrix(relative.reshape(-1, 3, 3)).as_rotvec()
                             .reshape(-1, constants.NUM_JOINTS, 3).astype(np.float32))
    betas = tf.zeros([len(joints), 10], dtype)
    optimizer = tf.keras.optimizers.Adam(weights.learning_rate)

    def loss():
        out = layer(betas, axis_angle, return_vertices=False)
        posed = out["joints"] - out["joints"][:, :1]
        rotations = out["relative_rotations"]
        moved = tf.linalg.matvec(tf.gather(out["absolute_rotations"], segments, axis=1), rest)
        change = tf.reduce_sum(tf.square(rotations[1:] - rotations[:-1]) * pairs, [-1, -2])
        return (weights.positions * tf.reduce_mean(tf.reduce_sum(tf.square(
                    posed - target_joints), -1))
                + weights.directions * tf.reduce_mean(1.0 - tf.reduce_sum(
                    moved * target_directions, -1))
                + weights.smoothness * tf.reduce_mean(change)
                + weights.limits * tf.reduce_mean(tf.square(limit_excess(rotations))))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss()
        optimizer.apply_gradients([(tape.gradient(value, axis_angle), axis_angle)])
        return value

    for _ in range(weights.steps):
        step()
    return Rotation.from_rotvec(axis_angle.numpy().reshape(-1, 3).astype(np.float64)).as_matrix(
    ).reshape(-1, constants.NUM_JOINTS, 3, 3)


# --- Errors ------------------------------------------------------------------------------


def posed_skeleton(layer, relative):
    """(root-relative joints [F, 24, 3], global rotations [F, 24, 3, 3]) of the body at betas 0."""
    out = layer(np.zeros((len(relative), 10), np.float32), relative.astype(np.float32),
                return_vertices=False)
    joints = out["joints"].numpy().astype(np.float64)
    return joints - joints[:, :1], out["absolute_rotations"].numpy().astype(np.float64)


def direction_errors(rotations, segments, rest, targets):
    """[F, D] degrees between the retargeted directions and the clip's (`direction_names`).

    rotations: [F, 24, 3, 3] global; segments, rest: `directions`; targets [F, D, 3].
    """
    moved = np.einsum("fdij,dj->fdi", rotations[:, segments], rest)
    return np.degrees(np.arccos(np.clip(np.sum(moved * targets, -1), -1.0, 1.0)))


def joint_errors(posed, joints):
    """[F, 24] metres between the body's root-relative joints and the clip's normalised ones."""
    return np.linalg.norm(posed - joints, axis=-1)


@dataclasses.dataclass(frozen=True)
class Retargeted:
    """relative: [F, 24, 3, 3] SMPL relative rotations; direction_errors [F, D] degrees
    (`direction_names`); joint_errors [F, 24] metres; scale: what normalised the clip."""
    relative: np.ndarray
    direction_errors: np.ndarray
    joint_errors: np.ndarray
    scale: float


def retarget(layer, joint_map, joints, targets, continues, weights=FitWeights()):
    """Retargets mapped points (`mapped_points` of any number of clips) to SMPL rotations.

    joints: [F, 24, 3] root-relative points (any units: scaled here to the body
    model's skeleton). targets: [F, D, 3] unit directions. continues: [F - 1] bool.
    """
    rest_joints = layer.body_model.J_regressor @ layer.body_model.v_template
    rest_joints = rest_joints - rest_joints[:1]
    scale = skeleton_scale(joints, rest_joints)
    joints = joints * scale
    segments, rest = directions(joint_map, rest_joints)
    start = relative_from_global(initial_rotations(segments, rest, targets))
    relative = fit_rotations(layer, joints, segments, rest, targets, start, continues, weights)
    posed, rotations = posed_skeleton(layer, relative)
    return Retargeted(relative, direction_errors(rotations, segments, rest, targets),
                      joint_errors(posed, joints), float(scale))
