"""A prior of plausible human poses for synthetic data, as SMPL axis-angle [N, 72].

Each joint's rotation relative to its parent is drawn from anatomical limits,
given below as ranges of intrinsic x-y-z Euler angles (degrees) in SMPL's rest
frame (x: the body's left, y: up, z: forward). Limits are written for the
left side and the midline; the right side mirrors them (y and z ranges
negated). Per sample, an activity level a ~ U(0.15, 1) scales every range
towards the rest pose, so the data mixes near-standing people with strongly
bent ones (sitting-like hips and knees, raised arms, reaching).

The global orientation stands the body upright in the original's camera
(a rotation by π about x: camera y points down, the body faces the camera),
turns it about the vertical by a yaw that is near-frontal (N(0, 35°)) for 60%
of the samples and uniform over 360° for the rest (including people seen from
behind), and tilts it by a few degrees.
"""
import numpy as np
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants

# joint: ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi)) in degrees.
JOINT_LIMITS = {
    1: ((-100, 25), (-20, 20), (-10, 40)),     # left hip: flexion is -x, abduction +z
    4: ((0, 130), (-3, 3), (-3, 3)),            # left knee bends one way only
    7: ((-20, 30), (-10, 10), (-10, 10)),       # left ankle
    10: ((-10, 10), (-3, 3), (-3, 3)),          # left toes
    3: ((-10, 30), (-15, 15), (-10, 10)),       # spine1: forward bend is +x
    6: ((-10, 20), (-15, 15), (-10, 10)),       # spine2
    9: ((-10, 20), (-15, 15), (-10, 10)),       # spine3
    12: ((-20, 30), (-30, 30), (-15, 15)),      # neck
    15: ((-20, 25), (-40, 40), (-15, 15)),      # head
    13: ((-5, 5), (-10, 10), (-10, 15)),        # left collar
    16: ((-40, 40), (-90, 40), (-80, 60)),      # left shoulder: arm down is -z, forward -y
    18: ((-30, 30), (-140, 0), (-5, 5)),        # left elbow bends forward only
    20: ((-30, 30), (-20, 20), (-40, 40)),      # left wrist
    22: ((-10, 10), (-10, 10), (-20, 20)),      # left hand
}
_FLIP = Rotation.from_rotvec([np.pi, 0.0, 0.0])
# Euler order per joint: the axis with the widest range goes first, so that
# the middle angle stays within ±90° and angles round-trip uniquely.
_ARM_ORDER = "yzx"
EULER_ORDER = {joint: _ARM_ORDER for joint in (16, 17, 18, 19)}


def _limits():
    """[24, 3, 2] Euler-angle ranges (radians) of every joint, right side mirrored."""
    limits = np.zeros((constants.NUM_JOINTS, 3, 2))
    for joint, ranges in JOINT_LIMITS.items():
        limits[joint] = np.radians(ranges)
        mirror = constants.MIRROR_JOINTS[joint]
        if mirror != joint:
            # Mirroring negates the y and z angles, so their ranges swap ends.
            limits[mirror, 0] = limits[joint, 0]
            limits[mirror, 1:] = -limits[joint, 1:, ::-1]
    return limits


LIMITS = _limits()


def sample_body_poses(rng, count):
    """Relative joint rotations of joints 1..23 as Euler angles [count, 24, 3] (radians).

    Joint 0 (global orientation) is left zero here; see `sample_poses`.
    """
    activity = rng.uniform(0.15, 1.0, size=(count, 1, 1))
    centre = LIMITS.mean(-1)
    centre = np.where((LIMITS[..., 0] <= 0) & (LIMITS[..., 1] >= 0), 0.0, centre)
    uniform = rng.uniform(LIMITS[..., 0], LIMITS[..., 1], size=(count,) + LIMITS.shape[:2])
    angles = centre + activity * (uniform - centre)
    angles[:, 0] = 0.0
    return angles


def sample_global_orientations(rng, count):
    """[count, 3] axis-angle: upright in the camera, varied yaw, small tilt."""
    frontal = rng.random(count) < 0.6
    yaw = np.where(frontal, rng.normal(0.0, np.radians(35), count),
                   rng.uniform(-np.pi, np.pi, count))
    tilt = rng.normal(0.0, np.radians(5), size=(count, 2))
    body = Rotation.from_euler("xyz", np.stack([tilt[:, 0], yaw, tilt[:, 1]], -1))
    return (_FLIP * body).as_rotvec()


def _axes(order):
    return ["xyz".index(axis) for axis in order]


def euler_to_axis_angle(euler):
    """[N, 24, 3] (x, y, z) Euler angles -> [N, 24, 3] axis-angle, per joint order."""
    result = np.zeros_like(euler)
    for joint in range(constants.NUM_JOINTS):
        order = EULER_ORDER.get(joint, "xyz")
        result[:, joint] = Rotation.from_euler(order, euler[:, joint, _axes(order)]).as_rotvec()
    return result


def axis_angle_to_euler(axis_angle):
    """Inverse of `euler_to_axis_angle`: [N, 24, 3] -> (x, y, z) Euler angles."""
    result = np.zeros_like(axis_angle)
    for joint in range(constants.NUM_JOINTS):
        order = EULER_ORDER.get(joint, "xyz")
        result[:, joint, _axes(order)] = Rotation.from_rotvec(axis_angle[:, joint]).as_euler(order)
    return result


def sample_poses(rng, count):
    """[count, 72] SMPL axis-angle poses (relative rotations) from the prior."""
    pose = euler_to_axis_angle(sample_body_poses(rng, count))
    pose[:, 0] = sample_global_orientations(rng, count)
    return pose.reshape(count, 72)


def within_limits(pose, tolerance=1e-6):
    """[N] bool: every joint 1..23 of axis-angle poses [N, 72] within LIMITS."""
    euler = axis_angle_to_euler(np.asarray(pose, np.float64).reshape(-1, 24, 3))[:, 1:]
    limits = LIMITS[1:]
    return np.all((euler >= limits[..., 0] - tolerance) & (euler <= limits[..., 1] + tolerance),
                  axis=(1, 2))
