"""Rotation geometry and the camera of the original NBF, in TensorFlow.

Every function takes and returns tensors with arbitrary leading batch
dimensions (`...`) and works inside `tf.function` and with XLA. Rotations act
on column vectors (x' = R x); rotation matrices are row-major in flattened
form, as in the original's 216-value latent layout.
"""
import numpy as np
import tensorflow as tf

from neural_body_fitting import constants

# Below this squared angle the Taylor series replace the closed forms: the
# closed forms lose precision (and give 0/0 gradients) as the angle goes to 0.
_SMALL_ANGLE_SQ = 1e-6


def _cross_product_matrix(v):
    """[..., 3] -> [..., 3, 3] matrix K with K x = v × x."""
    x, y, z = tf.unstack(v, axis=-1)
    zero = tf.zeros_like(x)
    return tf.stack(
        [tf.stack([zero, -z, y], -1), tf.stack([z, zero, -x], -1), tf.stack([-y, x, zero], -1)],
        axis=-2,
    )


def axis_angle_to_matrix(axis_angle):
    """Rodrigues' formula: axis-angle [..., 3] -> rotation matrices [..., 3, 3].

    R = I + a K + b K² with K the cross-product matrix of the axis-angle vector,
    a = sin(θ)/θ and b = (1 - cos θ)/θ². Near θ = 0 both factors come from their
    Taylor series, so values and gradients stay finite and exact at 0.
    """
    axis_angle = tf.convert_to_tensor(axis_angle)
    theta_sq = tf.reduce_sum(tf.square(axis_angle), axis=-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    safe_theta_sq = tf.where(small, tf.ones_like(theta_sq), theta_sq)
    safe_theta = tf.sqrt(safe_theta_sq)
    a = tf.where(small, 1.0 - theta_sq / 6.0, tf.sin(safe_theta) / safe_theta)
    b = tf.where(small, 0.5 - theta_sq / 24.0, (1.0 - tf.cos(safe_theta)) / safe_theta_sq)
    k = _cross_product_matrix(axis_angle)
    eye = tf.eye(3, dtype=axis_angle.dtype)
    return eye + a[..., None, None] * k + b[..., None, None] * tf.matmul(k, k)


def _sign_of(x):
    """+1 where x >= 0 and -1 elsewhere (unlike tf.sign, never 0)."""
    return tf.where(x < 0, -tf.ones_like(x), tf.ones_like(x))


def matrix_to_quaternion(rotation):
    """Rotation matrices [..., 3, 3] -> unit quaternions [..., 4] as (w, x, y, z), w >= 0.

    Shepperd's method: of the four algebraically equivalent formulas the one
    with the largest divisor is used, so the result is accurate for every
    rotation including angles near π.
    """
    rotation = tf.convert_to_tensor(rotation)
    m = rotation
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    # 4 q_i² for i = w, x, y, z; the largest picks the formula.
    squares = tf.stack([1.0 + trace, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22,
                        1.0 - m00 - m11 + m22], axis=-1)
    m01, m02, m10 = m[..., 0, 1], m[..., 0, 2], m[..., 1, 0]
    m12, m20, m21 = m[..., 1, 2], m[..., 2, 0], m[..., 2, 1]
    d21, d02, d10 = m21 - m12, m02 - m20, m10 - m01
    s21, s02, s10 = m21 + m12, m02 + m20, m10 + m01
    # Row i holds 4 q_i * q for the formula based on component i.
    candidates = tf.stack([
        tf.stack([squares[..., 0], d21, d02, d10], -1),
        tf.stack([d21, squares[..., 1], s10, s02], -1),
        tf.stack([d02, s10, squares[..., 2], s21], -1),
        tf.stack([d10, s02, s21, squares[..., 3]], -1),
    ], axis=-2)
    best = tf.argmax(squares, axis=-1)
    chosen = tf.reduce_sum(candidates * tf.one_hot(best, 4, dtype=m.dtype)[..., None], axis=-2)
    largest = tf.reduce_max(squares, axis=-1, keepdims=True)
    quaternion = chosen / (2.0 * tf.sqrt(tf.maximum(largest, 1e-12)))
    return quaternion * _sign_of(quaternion[..., :1])


def quaternion_to_matrix(quaternion):
    """Quaternions [..., 4] (w, x, y, z), normalised here -> rotation matrices [..., 3, 3]."""
    q = tf.math.l2_normalize(tf.convert_to_tensor(quaternion), axis=-1)
    w, x, y, z = tf.unstack(q, axis=-1)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return tf.stack([tf.stack(row, -1) for row in rows], axis=-2)


def quaternion_to_axis_angle(quaternion):
    """Unit quaternions [..., 4] (w, x, y, z) -> axis-angle [..., 3], angle in [0, π].

    θ = 2 atan2(|v|, w) after making w >= 0; the factor θ/|v| uses its series
    2/w (1 - |v|²/(3 w²)) near |v| = 0 so that the gradient is finite there.
    """
    q = tf.convert_to_tensor(quaternion)
    q = q * _sign_of(q[..., :1])
    w, v = q[..., 0], q[..., 1:]
    sin_sq = tf.reduce_sum(tf.square(v), axis=-1)
    small = sin_sq < _SMALL_ANGLE_SQ
    safe_sin = tf.sqrt(tf.where(small, tf.ones_like(sin_sq), sin_sq))
    safe_w = tf.where(small, w, tf.ones_like(w))
    factor = tf.where(small, 2.0 / safe_w * (1.0 - sin_sq / (3.0 * safe_w ** 2)),
                      2.0 * tf.atan2(safe_sin, w) / safe_sin)
    return v * factor[..., None]


def matrix_to_axis_angle(rotation):
    """Rotation matrices [..., 3, 3] -> axis-angle [..., 3], angle in [0, π].

    Goes through the quaternion, which is accurate near π where the classic
    formula from the antisymmetric part breaks down.
    """
    return quaternion_to_axis_angle(matrix_to_quaternion(rotation))


def quaternion_distance(q1, q2):
    """Rotation angle between quaternions [..., 4] -> [...] radians, as in the original err_quat.

    acos(2 <q1, q2>² - 1), the angle of the relative rotation, invariant to the
    sign of either quaternion. It is evaluated as 2 atan2(|v|, |w|) with (w, v) =
    conj(q1) q2, equal for unit quaternions: the acos form loses half the digits
    near 0 (in float32 it gives up to 1e-3 rad for two equal rotations).
    """
    q1, q2 = tf.convert_to_tensor(q1), tf.convert_to_tensor(q2)
    w1, x1, y1, z1 = tf.unstack(q1, axis=-1)
    w2, x2, y2, z2 = tf.unstack(q2, axis=-1)
    w = w1 * w2 + x1 * x2 + y1 * y2 + z1 * z2
    # v = w1 v2 - w2 v1 - v1 × v2
    vx = w1 * x2 - w2 * x1 - (y1 * z2 - z1 * y2)
    vy = w1 * y2 - w2 * y1 - (z1 * x2 - x1 * z2)
    vz = w1 * z2 - w2 * z1 - (x1 * y2 - y1 * x2)
    return 2.0 * tf.atan2(tf.sqrt(vx * vx + vy * vy + vz * vz), tf.abs(w))


# --- The kinematic chain ----------------------------------------------------------


def chain_depth_schedule(parents):
    """Index tables for composing transforms along a tree in log2(depth) steps.

    Pointer jumping: with G_i the product of local transforms from an ancestor
    a(i) down to i, one step sets G_i <- G_a(i) G_i and a(i) <- a(a(i)). Index
    J (one past the last joint) stands for the identity above the root.

    Args:
      parents: [J] parent indices, -1 for the root.
    Returns:
      A list of int32 arrays [J], the ancestor index used at each step.
    """
    parents = np.asarray(parents, np.int64)
    num_joints = parents.shape[0]
    ancestor = np.where(parents < 0, num_joints, parents)
    steps = []
    while np.any(ancestor < num_joints):
        steps.append(ancestor.astype(np.int32))
        extended = np.append(ancestor, num_joints)
        ancestor = extended[ancestor]
    return steps


def compose_chain(local, parents):
    """Global transforms from local ones along a kinematic tree.

    G_i = G_parent(i) · L_i with G_root = L_root, in ceil(log2(depth)) batched
    matrix products (see `chain_depth_schedule`) rather than one step per joint.

    Args:
      local: [..., J, N, N] local transforms (rotations N = 3 or rigid N = 4).
      parents: [J] parent indices (NumPy), -1 for the root.
    Returns:
      [..., J, N, N] global transforms.
    """
    local = tf.convert_to_tensor(local)
    size = local.shape[-1]
    identity = tf.broadcast_to(tf.eye(size, dtype=local.dtype),
                               tf.concat([tf.shape(local)[:-3], [1, size, size]], 0))
    transforms = local
    for ancestor in chain_depth_schedule(parents):
        extended = tf.concat([transforms, identity], axis=-3)
        transforms = tf.matmul(tf.gather(extended, ancestor, axis=-3), transforms)
    return transforms


def relative_to_absolute(rotations, parents=constants.SMPL_PARENTS):
    """Relative rotations [..., J, 3, 3] (each w.r.t. its parent) -> global ones [..., J, 3, 3]."""
    return compose_chain(rotations, parents)


def absolute_to_relative(rotations, parents=constants.SMPL_PARENTS):
    """Global rotations [..., J, 3, 3] -> relative ones: R_rel_i = R_parent(i)ᵀ R_i."""
    rotations = tf.convert_to_tensor(rotations)
    parent_index = np.where(np.asarray(parents) < 0, 0, parents)
    parent_rot = tf.gather(rotations, parent_index, axis=-3)
    relative = tf.matmul(parent_rot, rotations, transpose_a=True)
    is_root = tf.constant(np.asarray(parents) < 0)[:, None, None]
    return tf.where(is_root, rotations, relative)


# --- Projection to SO(3) -----------------------------------------------------------


def _polar_differential(u, s, v, perturbation):
    """dR of R = U Vᵀ for M = U diag(s) Vᵀ + dM: U [(K - Kᵀ) / (s_i + s_j)] Vᵀ, K = Uᵀ dM V.

    The map is linear in dM and its adjoint has the same form (with dL/dR
    for dM), so autodiff through it gives the polar gradient. Where s_i + s_j
    is 0 the derivative does not exist and this takes 0.
    """
    k = tf.matmul(tf.matmul(u, perturbation, transpose_a=True), v)
    denominator = s[..., :, None] + s[..., None, :]
    return tf.matmul(tf.matmul(u, tf.math.divide_no_nan(k - tf.linalg.matrix_transpose(k),
                                                         denominator)), v, transpose_b=True)


def project_to_so3(matrix, force_positive_determinant=False):
    """Nearest orthogonal matrix by SVD: [..., 3, 3] -> U Vᵀ [..., 3, 3].

    With the default `force_positive_determinant=False` this is the original
    NBF's `use_svd` projection, which returns a reflection (det = -1) when the
    input has a negative determinant; `True` flips the smallest singular
    direction so the result is always a rotation (det = +1).

    Gradient: differentiating U and V separately (TensorFlow's SVD gradient,
    as the original did) has terms 1/(s_i² - s_j²) that blow up when singular
    values repeat, which is exactly the case near a rotation. The polar factor
    U Vᵀ itself has the well-defined derivative used here,
    dL/dM = U [(H - Hᵀ) / (s_i + s_j)] Vᵀ with H = Uᵀ (dL/dR) V, which is finite
    for repeated singular values and only singular when two singular values
    sum to 0 (a rank-deficient input, or with the determinant fix, a flipped
    singular value equal to another one), where it is taken as 0.
    """
    matrix = tf.convert_to_tensor(matrix)
    # The value is U Vᵀ; the gradient flows only through the (value-zero)
    # linear term. This avoids tf.custom_gradient, which in a tf.function keeps
    # every traced graph alive (TensorFlow's global gradient registry holds it).
    s, u, v = (tf.stop_gradient(t) for t in tf.linalg.svd(matrix))
    if force_positive_determinant:
        # Flipping the smallest singular direction: M = (U D)(D S) Vᵀ with
        # D = diag(1, 1, det(U Vᵀ)) keeps the same differential.
        sign = tf.sign(tf.linalg.det(tf.matmul(u, v, transpose_b=True)))
        flip = tf.concat([tf.ones_like(s[..., :2]), sign[..., None]], axis=-1)
        u = u * flip[..., None, :]
        s = s * flip
    return (tf.matmul(u, v, transpose_b=True)
            + _polar_differential(u, s, v, matrix - tf.stop_gradient(matrix)))
