"""A prior of plausible human poses for synthetic data, as SMPL axis-angle [N, 72].

Every joint's rotation relative to its parent is written as three Euler
angles (x, y, z) about the axes of SMPL's rest frame (x: the body's left,
y: up, z: forward), composed in a per-joint order chosen so that the angles
mean something anatomical (intrinsic rotations, first axis outermost):

  legs   'XZY'  x: flexion (hip: negative swings the thigh forward; knee:
                positive bends the shin back), z: abduction (left: positive
                lifts the leg sideways), y: twist about the bone.
  arms   'YZX'  the arm points along +x (left) in the rest pose: z is its
                elevation (-90 hangs down, +90 points up), y its swing
                (left: negative forward), x the twist about the bone; the
                elbow bends forward about y (left: negative).
  trunk  'XYZ'  x: forward bend, y: turn, z: side bend (spine, neck, head).

Angles are tabulated in degrees for the left side and the midline; the right
side is the mirror image (a reflection x -> -x keeps x angles and negates y
and z angles, whatever the order).

Sampling: a pose archetype (standing, walking, sitting, crouching, reaching,
arms raised, lunging, or 'free': anywhere within the limits, scaled towards
the rest pose by a random activity level) is drawn by weight, mirrored
left/right with probability 1/2, perturbed by per-joint Gaussian noise and
clipped to the anatomical limits `JOINT_LIMITS`, so every pose respects
them.

Global orientation: the body stands upright in the original's OpenCV camera
(a rotation by π about x turns SMPL's y-up into the camera's y-down and makes
the body face the camera) composed with a yaw about the body's vertical axis
that is near-frontal (N(0, 35°)) for 60 % of the samples and uniform over
360° for the rest (people seen from the side and from behind), and a small
pitch and roll (N(0, 5°)), so that self-occlusion occurs.
"""
import numpy as np
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants

# --- Tables (degrees) ----------------------------------------------------------------

# Euler order of each joint family (SciPy's upper case = intrinsic rotations).
_LEG, _ARM, _TRUNK = "XZY", "YZX", "XYZ"
EULER_ORDERS = {
    "hip": _LEG, "knee": _LEG, "ankle": _LEG, "foot": _LEG,
    "collar": _ARM, "shoulder": _ARM, "elbow": _ARM, "wrist": _ARM, "hand": _ARM,
    "pelvis": _TRUNK, "spine1": _TRUNK, "spine2": _TRUNK, "spine3": _TRUNK,
    "neck": _TRUNK, "head": _TRUNK,
}

# Anatomical limits, left side and midline: ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi)).
# Middle angles of each order stay inside ±90° so Euler angles round-trip uniquely.
JOINT_LIMITS = {
    "hip": ((-120, 30), (-35, 35), (-25, 50)),
    "knee": ((0, 140), (-5, 5), (-5, 5)),  # The knee bends one way only.
    "ankle": ((-25, 35), (-15, 15), (-15, 15)),
    "foot": ((-20, 20), (-5, 5), (-5, 5)),
    "spine1": ((-15, 35), (-20, 20), (-15, 15)),
    "spine2": ((-10, 25), (-20, 20), (-15, 15)),
    "spine3": ((-10, 25), (-20, 20), (-15, 15)),
    "neck": ((-25, 35), (-35, 35), (-20, 20)),
    "head": ((-30, 30), (-45, 45), (-20, 20)),
    "collar": ((-10, 10), (-15, 15), (-10, 20)),
    "shoulder": ((-70, 70), (-110, 45), (-85, 85)),
    "elbow": ((-60, 60), (-145, 0), (-10, 10)),  # The elbow bends forward only.
    "wrist": ((-40, 40), (-30, 30), (-45, 45)),
    "hand": ((-10, 10), (-10, 10), (-15, 15)),
}

# Standard deviation of the noise around an archetype, per joint family.
NOISE_DEGREES = {
    "hip": 10, "knee": 10, "ankle": 6, "foot": 3, "spine1": 5, "spine2": 4, "spine3": 4,
    "neck": 8, "head": 14, "collar": 3, "shoulder": 16, "elbow": 15, "wrist": 12, "hand": 5,
}

# Archetypes: joint name -> (x, y, z) degrees in the left-side convention. A
# family name ('hip') sets both sides, a full name ('left_hip') one side;
# unlisted joints are at rest. Asymmetric archetypes are mirrored at random.
_ARMS_DOWN = {"shoulder": (0, -10, -72), "elbow": (0, -15, 0)}
ARCHETYPES = {
    "standing": {**_ARMS_DOWN, "hip": (-3, 0, 4), "knee": (4, 0, 0)},
    "walking": {
        "left_hip": (-25, 0, 2), "right_hip": (15, 0, 2), "left_knee": (10, 0, 0),
        "right_knee": (40, 0, 0), "right_ankle": (15, 0, 0),
        "left_shoulder": (0, 25, -75), "right_shoulder": (0, -25, -75),
        "left_elbow": (0, -10, 0), "right_elbow": (0, -35, 0),
    },
    "sitting": {
        "hip": (-85, 0, 10), "knee": (90, 0, 0), "spine1": (10, 0, 0),
        "shoulder": (0, -35, -60), "elbow": (0, -50, 0),
    },
    "crouching": {
        "hip": (-110, 0, 15), "knee": (125, 0, 0), "ankle": (20, 0, 0), "spine1": (25, 0, 0),
        "spine2": (10, 0, 0), "shoulder": (0, -50, -50), "elbow": (0, -60, 0),
    },
    "reaching": {
        "hip": (-5, 0, 4), "knee": (5, 0, 0), "spine1": (10, 10, 0), "spine2": (5, 5, 0),
        "left_shoulder": (0, -70, 20), "left_elbow": (0, -10, 0),
        "right_shoulder": (0, -10, -72), "right_elbow": (0, -20, 0),
    },
    "arms_raised": {"hip": (-3, 0, 5), "shoulder": (0, -20, 65), "elbow": (0, -20, 0)},
    "lunging": {
        "left_hip": (-70, 0, 5), "left_knee": (80, 0, 0), "right_hip": (15, 0, 5),
        "right_knee": (15, 0, 0), "spine1": (15, 0, 0),
        "shoulder": (0, -30, -60), "elbow": (0, -30, 0),
    },
    "free": {},  # Uniform within the limits, scaled towards the rest pose.
}
ARCHETYPE_WEIGHTS = {
    "standing": 0.2, "walking": 0.17, "sitting": 0.1, "crouching": 0.06, "reaching": 0.12,
    "arms_raised": 0.08, "lunging": 0.07, "free": 0.2,
}

# Global orientation: yaw near-frontal for this fraction of the samples, else uniform.
FRONTAL_FRACTION, FRONTAL_YAW_DEGREES, TILT_DEGREES = 0.6, 35.0, 5.0
# Upright in the OpenCV camera: SMPL's y-up body turned by π about x faces the camera.
UPRIGHT = Rotation.from_rotvec([np.pi, 0.0, 0.0])

# --- Per-joint arrays ------------------------------------------------------------------


def _family(joint_name):
    return joint_name.split("_", 1)[1] if joint_name.startswith(("left_", "right_")) else \
        joint_name


def _is_right(joint):
    return constants.JOINT_NAMES[joint].startswith("right_")


_FAMILIES = [_family(name) for name in constants.JOINT_NAMES]
# A right joint's angles are its left twin's with y and z negated.
_SIDE_SIGNS = np.array([[1.0, -1.0, -1.0] if _is_right(j) else [1.0, 1.0, 1.0]
                        for j in range(constants.NUM_JOINTS)])


def _per_joint_ranges(table):
    """[24, 3, 2] radians: a left/midline table of ranges, mirrored to the right side."""
    ranges = np.zeros((constants.NUM_JOINTS, 3, 2))
    for joint, family in enumerate(_FAMILIES):
        if family in table:
            ranges[joint] = np.radians(table[family])
    signs = _SIDE_SIGNS[..., None]
    # Negating an interval swaps its ends.
    return np.where(signs > 0, ranges, -ranges[..., ::-1])


LIMITS = _per_joint_ranges(JOINT_LIMITS)  # [24, 3, 2] radians; joint 0 is unconstrained.
NOISE = np.radians([[NOISE_DEGREES.get(family, 0.0)] * 3 for family in _FAMILIES])  # [24, 3]
ORDERS = [EULER_ORDERS[family] for family in _FAMILIES]
ARCHETYPE_NAMES = tuple(ARCHETYPES)


def _archetype_angles(spec):
    """[24, 3] radians (true per-side signs) of an archetype specification."""
    angles = np.zeros((constants.NUM_JOINTS, 3))
    for joint, name in enumerate(constants.JOINT_NAMES):
        value = spec.get(name, spec.get(_family(name)))
        if value is not None:
            angles[joint] = np.radians(value) * _SIDE_SIGNS[joint]
    return angles


def mirror_euler(angles):
    """Left/right mirror of per-joint Euler angles [..., 24, 3]: swap sides, negate y, z."""
    return angles[..., constants.MIRROR_JOINTS, :] * np.array([1.0, -1.0, -1.0])


_ARCHETYPE_ANGLES = np.stack([_archetype_angles(ARCHETYPES[name]) for name in ARCHETYPE_NAMES])
_ARCHETYPE_PROBABILITIES = np.array([ARCHETYPE_WEIGHTS[name] for name in ARCHETYPE_NAMES])
_ARCHETYPE_PROBABILITIES = _ARCHETYPE_PROBABILITIES / _ARCHETYPE_PROBABILITIES.sum()
_FREE = ARCHETYPE_NAMES.index("free")

# --- Conversions ----------------------------------------------------------------------------


def euler_to_axis_angle(angles):
    """Per-joint Euler angles [N, 24, 3] (x, y, z; radians) -> axis-angle [N, 24, 3]."""
    angles = np.asarray(angles, np.float64)
    result = np.zeros_like(angles)
    for joint, order in enumerate(ORDERS):
        axes = ["XYZ".index(axis) for axis in order]
        result[:, joint] = Rotation.from_euler(order, angles[:, joint, axes]).as_rotvec()
    return result


def axis_angle_to_euler(axis_angle):
    """Inverse of `euler_to_axis_angle`: axis-angle [N, 24, 3] -> (x, y, z) radians."""
    axis_angle = np.asarray(axis_angle, np.float64)
    result = np.zeros_like(axis_angle)
    for joint, order in enumerate(ORDERS):
        axes = ["XYZ".index(axis) for axis in order]
        result[:, joint, axes] = Rotation.from_rotvec(axis_angle[:, joint]).as_euler(order)
    return result


# --- Sampling -------------------------------------------------------------------------------


def sample_body_angles(rng, count):
    """Euler angles [count, 24, 3] (radians) of joints 1..23 and the archetype ids [count].

    Joint 0 (the global orientation) is zero here; see `sample_global_orientations`.
    """
    archetypes = rng.choice(len(ARCHETYPE_NAMES), size=count, p=_ARCHETYPE_PROBABILITIES)
    angles = _ARCHETYPE_ANGLES[archetypes]
    mirrored = rng.random(count) < 0.5
    angles = np.where(mirrored[:, None, None], mirror_euler(angles), angles)
    angles = angles + rng.normal(size=angles.shape) * NOISE
    # 'free' poses: uniform within the limits, pulled towards the rest pose
    # (or the nearest limit if rest is outside them) by an activity level.
    activity = rng.uniform(0.2, 1.0, size=(count, 1, 1))
    rest = np.clip(0.0, LIMITS[..., 0], LIMITS[..., 1])
    uniform = rng.uniform(LIMITS[..., 0], LIMITS[..., 1], size=angles.shape)
    free = rest + activity * (uniform - rest)
    angles = np.where((archetypes == _FREE)[:, None, None], free, angles)
    angles = np.clip(angles, LIMITS[..., 0], LIMITS[..., 1])
    angles[:, 0] = 0.0
    return angles, archetypes


def sample_global_orientations(rng, count):
    """[count, 3] axis-angle: upright facing the camera, then yaw, pitch and roll."""
    frontal = rng.random(count) < FRONTAL_FRACTION
    yaw = np.where(frontal, rng.normal(0.0, np.radians(FRONTAL_YAW_DEGREES), count),
                   rng.uniform(-np.pi, np.pi, count))
    pitch, roll = rng.normal(0.0, np.radians(TILT_DEGREES), size=(2, count))
    # Intrinsic Y-X-Z in the body's own frame: turn about its vertical, then tilt.
    body = Rotation.from_euler("YXZ", np.stack([yaw, pitch, roll], -1))
    return (UPRIGHT * body).as_rotvec()


def sample_poses(rng, count):
    """[count, 72] SMPL axis-angle poses (relative rotations) from the prior.

    Args:
      rng: a numpy Generator (the result is a deterministic function of its state).
      count: number of poses.
    """
    angles, _ = sample_body_angles(rng, count)
    pose = euler_to_axis_angle(angles)
    pose[:, 0] = sample_global_orientations(rng, count)
    return pose.reshape(count, 3 * constants.NUM_JOINTS)


def within_limits(pose, tolerance=1e-6):
    """[N] bool: every joint 1..23 of axis-angle poses [N, 72] lies within `LIMITS`."""
    pose = np.asarray(pose, np.float64).reshape(-1, constants.NUM_JOINTS, 3)
    angles = axis_angle_to_euler(pose)[:, 1:]
    limits = LIMITS[1:]
    inside = (angles >= limits[..., 0] - tolerance) & (angles <= limits[..., 1] + tolerance)
    return np.all(inside, axis=(1, 2))
