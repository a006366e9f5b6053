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

`PosePrior` chooses between this Euler-limit prior ('limits') and the
motion-capture prior ('mocap', the default): body poses drawn from a pose bank
(`body.pose_bank`, the one shipped with the package unless named) with a
small per-joint noise, the bank's pelvis lean under the same global
orientation sampler, and a fraction of the samples from the Euler-limit
prior (`DEFAULT_LIMITS_FRACTION`, measured in docs/pose_bank.md) for poses
motion capture lacks.
"""
import dataclasses

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


def sample_global_orientations(rng, count, lean=None):
    """[count, 3] axis-angle: upright in the camera, varied yaw, small tilt.

    lean: optional [count, 3] axis-angle pelvis rotations without heading (a
    pose bank's joint 0), applied in the body's frame before the yaw and tilt.
    """
    frontal = rng.random(count) < 0.6
    yaw = np.where(frontal, rng.normal(0.0, np.radians(35), count),
                   rng.uniform(-np.pi, np.pi, count))
    tilt = rng.normal(0.0, np.radians(5), size=(count, 2))
    body = Rotation.from_euler("xyz", np.stack([tilt[:, 0], yaw, tilt[:, 1]], -1))
    if lean is not None:
        body = body * Rotation.from_rotvec(lean)
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



# --- The motion-capture prior -------------------------------------------------------------

LIMITS_PRIOR, MOCAP_PRIOR = "limits", "mocap"
KINDS = (MOCAP_PRIOR, LIMITS_PRIOR)
DEFAULT_LIMITS_FRACTION = 0.2
DEFAULT_NOISE_DEGREES = 3.0


def sample_bank_poses(rng, count, poses, noise_degrees=DEFAULT_NOISE_DEGREES):
    """[count, 72] SMPL axis-angle poses: random poses of a bank [N, 24, 3] (`pose_bank`),
    each body joint turned by a random rotation of N(0, noise) per axis, the
    pelvis's lean kept under `sample_global_orientations`."""
    chosen = np.asarray(poses, np.float64)[rng.integers(len(poses), size=count)]
    noise = rng.normal(0.0, np.radians(noise_degrees), size=(count, 23, 3))
    body = (Rotation.from_rotvec(chosen[:, 1:].reshape(-1, 3))
            * Rotation.from_rotvec(noise.reshape(-1, 3))).as_rotvec()
    pose = np.concatenate([sample_global_orientations(rng, count, lean=chosen[:, 0])[:, None],
                           body.reshape(count, 23, 3)], axis=1)
    return pose.reshape(count, 72)


@dataclasses.dataclass(frozen=True)
class PosePrior:
    """Which poses synthetic samples get (module docstring).

    kind: 'mocap' (a pose bank, mixed with the Euler-limit prior) or 'limits'.
    limits_fraction: for 'mocap', the fraction of samples from the Euler-limit prior.
    noise_degrees: for 'mocap', the per-joint noise on bank poses.
    bank: for 'mocap', a pose bank file, or None for the one shipped with the package.
    """
    kind: str = MOCAP_PRIOR
    limits_fraction: float = DEFAULT_LIMITS_FRACTION
    noise_degrees: float = DEFAULT_NOISE_DEGREES
    bank: str = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"pose prior: expected one of {list(KINDS)}, got {self.kind!r}")
        if not 0.0 <= self.limits_fraction <= 1.0:
            raise ValueError(f"pose prior: limits_fraction is a fraction in [0, 1], got "
                             f"{self.limits_fraction!r}")
        if self.noise_degrees < 0:
            raise ValueError(f"pose prior: noise_degrees is at least 0, got "
                             f"{self.noise_degrees!r}")

    def sample(self, rng, count):
        """[count, 72] SMPL axis-angle poses (relative rotations)."""
        if self.kind == LIMITS_PRIOR:
            return sample_poses(rng, count)
        from neural_body_fitting.body import pose_bank  # Read on first use only.

        from_limits = rng.random(count) < self.limits_fraction
        limits = sample_poses(rng, count)
        bank = sample_bank_poses(rng, count, pose_bank.read_pose_bank(self.bank).poses,
                                 self.noise_degrees)
        return np.where(from_limits[:, None], limits, bank)

    def record(self):
        """What dataset.json says of the prior (the bank by its file name and record)."""
        if self.kind == LIMITS_PRIOR:
            return {"kind": LIMITS_PRIOR}
        from neural_body_fitting.body import pose_bank

        bank = pose_bank.read_pose_bank(self.bank)
        return {"kind": MOCAP_PRIOR, "limits_fraction": self.limits_fraction,
                "noise_degrees": self.noise_degrees,
                "bank": "shipped" if self.bank is None else self.bank,
                "bank_name": bank.record.get("name"), "bank_poses": int(len(bank.poses)),
                "bank_body_model": bank.record.get("body_model")}
