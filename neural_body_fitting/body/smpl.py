"""The SMPL body model as differentiable TensorFlow functions and a Keras layer.

The functions follow SMPL's equations (Loper et al. 2015) step by step:

  J(β)     = J_regressor · (T + B_S(β))      `SMPL.rest_joints` (precomputed, linear in β)
  v_posed  = T + B_S(β) + B_P(R)             `pose_feature`, `blend_shapes` (one product)
  J_posed  = the kinematic chain on J(β)     `posed_joints`
  A_k      = [R_k | J_posed_k - R_k J_k]     `skinning_transforms`
  v        = Σ_k w_k A_k v_posed             `skin`

with R the per-joint rotations. `rotation_mode='absolute'` takes each joint's
global rotation (the original NBF's `use_absrot`) instead of the rotation
relative to its parent. The kinematic chain is vectorised: global rotations
come from `geometry.compose_chain` (log-depth pointer jumping) and posed
joints from one product with the ancestor matrix, never a loop over joints.

`SMPL` wraps these in a Keras layer whose forward pass is compiled with XLA
by default (it fuses away the [B, V, 3, 4] per-vertex transforms). The
layer holds the model's arrays as non-trainable weights, so checkpoints and
SavedModels carry them, and its config names the body model by its spec.
"""
import keras
import numpy as np
import tensorflow as tf

from neural_body_fitting import constants, geometry
from neural_body_fitting.body.resolve import resolve_body_model, spec_of

ROTATION_MODES = ("relative", "absolute")


# --- Pure functions -------------------------------------------------------------------


def blend_coefficients(betas, feature, num_betas):
    """Coefficients of the stacked blend shapes: [1, β (zero-padded), pose feature].

    Args:
      betas: [B, S] with S <= num_betas.
      feature: [B, 207] from `pose_feature`.
      num_betas: number of shape components of the model.
    Returns:
      [B, 1 + num_betas + 207].
    """
    padding = num_betas - betas.shape[-1]
    return tf.concat([tf.ones_like(betas[:, :1]), tf.pad(betas, [[0, 0], [0, padding]]),
                      feature], axis=-1)


def blend_shapes(coefficients, directions, num_points):
    """Rest-pose points with shape and pose correctives, as one matrix product.

    Stacking the template, the shape directions and the pose directions as
    rows of one matrix turns v_posed = T + B_S(β) + B_P(R) into a single
    product with [1, β, feature].

    Args:
      coefficients: [B, K] from `blend_coefficients`.
      directions: [K, N * 3] stacked template, shapedirs and posedirs.
      num_points: N.
    Returns:
      [B, N, 3] shaped and pose-corrected points.
    """
    return tf.reshape(tf.matmul(coefficients, directions), [-1, num_points, 3])


def pose_feature(relative_rotations):
    """SMPL's pose-blend-shape feature: (R_j - I) of joints 1..23, row-major.

    Args:
      relative_rotations: [B, 24, 3, 3] rotations relative to the parent joint.
    Returns:
      [B, 207] feature.
    """
    eye = tf.eye(3, dtype=relative_rotations.dtype)
    return tf.reshape(relative_rotations[:, 1:] - eye, [-1, constants.NUM_POSE_BLEND])


def ancestor_matrix(parents):
    """[J, J] matrix M with M[i, k] = 1 if joint k is i or an ancestor of i (NumPy)."""
    parents = np.asarray(parents)
    matrix = np.eye(len(parents))
    for joint in range(1, len(parents)):  # Parents come before children.
        matrix[joint] += matrix[parents[joint]]
    return matrix


def posed_joints(absolute_rotations, rest_joints, parents, ancestors):
    """Joint positions after posing, by one product with the ancestor matrix.

    J_posed_i = J_posed_parent + R_parent (J_i - J_parent), i.e. the sum over
    i's ancestors k (and i itself) of the rotated bone offsets
    d_k = R_parent(k) (J_k - J_parent(k)), with d_root = J_root.

    Args:
      absolute_rotations: [B, J, 3, 3] global joint rotations.
      rest_joints: [B, J, 3] J(β).
      parents: [J] NumPy parent indices, -1 for the root.
      ancestors: [J, J] `ancestor_matrix(parents)` as a tensor.
    Returns:
      [B, J, 3] posed joints.
    """
    parent_index = np.maximum(parents, 0)
    bones = rest_joints - tf.gather(rest_joints, parent_index, axis=1)
    rotated = tf.linalg.matvec(tf.gather(absolute_rotations, parent_index, axis=1), bones)
    offsets = tf.concat([rest_joints[:, :1], rotated[:, 1:]], axis=1)
    return tf.einsum("jk,bkc->bjc", ancestors, offsets)


def skinning_transforms(absolute_rotations, rest_joints, joints):
    """Per-joint rigid transforms from rest pose to posed space.

    Args:
      absolute_rotations: [B, J, 3, 3].
      rest_joints: [B, J, 3] J(β).
      joints: [B, J, 3] posed joints.
    Returns:
      [B, J, 3, 4] transforms [R_k | J_posed_k - R_k J_k].
    """
    translation = joints - tf.linalg.matvec(absolute_rotations, rest_joints)
    return tf.concat([absolute_rotations, translation[..., None]], axis=-1)


def skin(points, weights, transforms):
    """Linear blend skinning.

    Args:
      points: [B, N, 3] rest-space points (shaped and pose-corrected).
      weights: [N, J] skinning weights.
      transforms: [B, J, 3, 4] from `skinning_transforms`.
    Returns:
      [B, N, 3] posed points.
    """
    batch, num_joints = tf.shape(transforms)[0], weights.shape[1]
    # One product [N, J] x [J, B * 12], kept point-major: transposing the small
    # inputs and output is cheaper than transposing the [N, B, 3, 4] product.
    per_joint = tf.reshape(tf.transpose(transforms, [1, 0, 2, 3]), [num_joints, -1])
    # The point count is given, not inferred (-1): with B = 0 it is ambiguous.
    blended = tf.reshape(tf.matmul(weights, per_joint), [weights.shape[0], batch, 3, 4])
    points = tf.transpose(points, [1, 0, 2])[:, :, None, :]  # [N, B, 1, 3]
    # Written out per column rather than as a reduction over a size-3 axis:
    # XLA fuses this into one vectorised pass over the blended transforms.
    posed = (blended[..., 0] * points[..., 0] + blended[..., 1] * points[..., 1]
             + blended[..., 2] * points[..., 2] + blended[..., 3])
    return tf.transpose(posed, [1, 0, 2])


# --- Model tensors --------------------------------------------------------------------


def _array_weight(layer, name, array):
    """A non-trainable weight of `layer` holding `array` in the layer's compute dtype.

    A variable rather than a constant: XLA then receives it as a parameter
    instead of folding it into the compiled program, and as a weight of the
    layer it is tracked, so checkpoints and SavedModels carry it.
    """
    array = np.asarray(array)
    return layer.add_weight(
        shape=array.shape, dtype=layer.compute_dtype, trainable=False, autocast=False,
        initializer=lambda shape, dtype: tf.constant(array, dtype), name=name)


class _PointSet(tf.Module):
    """The per-point arrays of a set of mesh points (all vertices, or a subset).

    The arrays are weights of `layer` (see `_array_weight`): [K, N * 3] stacked
    blend directions and [N, J] skinning weights. A `tf.Module`, so that the
    layer's attribute holding it makes them reachable for checkpoints and
    SavedModels (which follow attributes, not the layer's weight lists).
    """

    def __init__(self, layer, model, vertex_ids, name):
        super().__init__(name=name)
        ids = np.arange(model.num_vertices) if vertex_ids is None else np.asarray(vertex_ids)
        self.num_points = len(ids)
        directions = np.concatenate([
            model.v_template[ids][None],
            np.transpose(model.shapedirs[ids], (2, 0, 1)),
            np.transpose(model.posedirs[ids], (2, 0, 1)),
        ]).reshape(1 + model.num_betas + constants.NUM_POSE_BLEND, -1)
        self.directions = _array_weight(layer, f"{name}_directions", directions)
        self.weights = _array_weight(layer, f"{name}_weights", model.weights[ids])

    def pose(self, coefficients, transforms):
        """[B, K] blend coefficients, [B, J, 3, 4] transforms -> posed points [B, N, 3]."""
        rest = blend_shapes(coefficients, self.directions, self.num_points)
        return skin(rest, self.weights, transforms)


def _gated(checks, tensor):
    """`tensor`, available only after the run-time `checks` have passed.

    Without the dependency a failing check could lose the race against the
    raw TensorFlow error of the computation it guards.
    """
    with tf.control_dependencies(checks):
        return tf.identity(tensor)


def _as_tensor(value, name):
    """`value` as a tensor; ValueError naming the argument if it is not convertible."""
    try:
        return tf.convert_to_tensor(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"SMPL: '{name}' must be a floating-point tensor, "
                         f"got {type(value).__name__}") from error


def _check_input(value, name, allowed_shapes, dtype):
    """Converts `value` to a `dtype` tensor; ValueError unless float with an allowed shape.

    `allowed_shapes` holds tuples of ints (fixed sizes) and strings (free sizes).
    Fixed sizes left open by the static shape (in a `tf.function` with unknown
    sizes) are checked at run time and then set, so the forward pass sees them.
    """
    tensor = _as_tensor(value, name)
    if not tensor.dtype.is_floating:
        raise ValueError(f"SMPL: '{name}' must be a floating-point tensor, got {tensor.dtype.name}")
    shape = tensor.shape
    pretty = " or ".join("[" + ", ".join(str(a) for a in allowed) + "]"
                         for allowed in allowed_shapes)
    for allowed in allowed_shapes:
        if shape.rank == len(allowed) and all(
                isinstance(a, str) or s is None or a == s for a, s in zip(allowed, shape)):
            return _with_fixed_sizes(tf.cast(tensor, dtype), allowed,
                                     f"SMPL: '{name}' must have shape {pretty}")
    raise ValueError(f"SMPL: '{name}' must have shape {pretty}, got {shape.as_list()}")


def _with_fixed_sizes(tensor, allowed, message):
    """`tensor` with the fixed sizes of `allowed` that its static shape lacks checked and set."""
    shape = tensor.shape
    open_axes = [axis for axis, (size, static) in enumerate(zip(allowed, shape))
                 if static is None and not isinstance(size, str)]
    if not open_axes:
        return tensor
    checks = [tf.debugging.assert_equal(tf.shape(tensor)[axis], allowed[axis], message=message)
              for axis in open_axes]
    return tf.ensure_shape(_gated(checks, tensor), [
        static if isinstance(size, str) else size for size, static in zip(allowed, shape)])


def _check_num_betas(betas, num_betas):
    """`betas` [B, S]; ValueError if S > num_betas.

    The blend shapes and J(β) take S from the static shape: an S known only at
    run time is checked then, and the betas are zero-padded to `num_betas`.
    """
    message = f"SMPL: 'betas' must have at most {num_betas} components for this model"
    size = betas.shape[-1]
    if size is not None:
        if size > num_betas:
            raise ValueError(f"{message}, got {size}")
        return betas
    size = tf.shape(betas)[-1]
    check = tf.debugging.assert_less_equal(size, num_betas, message=message)
    padded = tf.pad(_gated([check], betas), [[0, 0], [0, num_betas - size]])
    return tf.ensure_shape(padded, [betas.shape[0], num_betas])


def _check_batch_sizes(inputs):
    """`inputs` ({name: tensor}, betas first); ValueError if their batch sizes differ.

    Sizes unknown statically are compared at run time, the tensors then gated
    on the comparisons (`_gated`).
    """
    (first_name, first), *others = inputs.items()
    checks = []
    for name, tensor in others:
        size, first_size = tensor.shape[0], first.shape[0]
        if size is None or first_size is None:
            checks.append(tf.debugging.assert_equal(
                tf.shape(tensor)[0], tf.shape(first)[0],
                message=f"SMPL: '{name}' and '{first_name}' must have the same batch size"))
        elif size != first_size:
            raise ValueError(f"SMPL: '{name}' has batch {size} but '{first_name}' has "
                             f"batch {first_size}")
    if not checks:
        return inputs
    return {name: _gated(checks, tensor) for name, tensor in inputs.items()}


def _check_vertex_ids(vertex_ids, num_vertices):
    """None, or `vertex_ids` as a NumPy [L] array; ValueError unless ids in [0, V)."""
    if vertex_ids is None:
        return None
    ids = np.asarray(vertex_ids)
    if (ids.ndim != 1 or not len(ids) or not np.issubdtype(ids.dtype, np.integer)
            or ids.min() < 0 or ids.max() >= num_vertices):
        raise ValueError("SMPL: 'landmark_vertex_ids' must be a 1-D list of vertex ids "
                         f"in [0, {num_vertices})")
    return ids


def run_landmarks(outputs, num_landmarks):
    """The landmark set a run compares [B, L, 3] of the layer's outputs: the
    original's 14 landmarks for L = 14, SMPL's 24 joints for L = 24."""
    if num_landmarks not in (14, 24):
        raise ValueError(f"num_landmarks must be 14 or 24, got {num_landmarks}")
    return outputs["landmarks14"] if num_landmarks == 14 else outputs["joints"]


class SMPL(keras.layers.Layer):
    """SMPL as a Keras layer: betas and pose -> vertices, joints and landmarks.

    Args:
      body_model: a BodyModel, a path to an SMPL `.pkl`/`.npz`, or None for
        `$NBF_SMPL_MODEL` or else the built-in synthetic model.
      rotation_mode: 'relative' (SMPL's native: each joint relative to its
        parent) or 'absolute' (each joint's global rotation, NBF's `use_absrot`).
      landmark_vertex_ids: optional [L] vertex ids of an extra landmark set
        (e.g. the original's 91 landmarks), returned as 'landmarks'.
      jit_compile: compile the forward pass with XLA (default True).

    `get_config` names the body model by its spec (`body.resolve.spec_of`),
    which `from_config` (through `__init__`) resolves again.

    Call arguments:
      betas: [B, S] shape coefficients, S <= the model's components (10 for SMPL).
      pose: axis-angle [B, 72] or [B, 24, 3], or rotation matrices [B, 24, 3, 3],
        interpreted according to `rotation_mode`.
      translation: optional [B, 3] added to all outputs but 'rest_joints'.
      return_vertices: also return the full mesh (otherwise only the landmark
        vertices are skinned, which is much cheaper).

    All arguments share the batch size B, which may be 0. Bad arguments raise
    ValueError naming them; sizes unknown until run time (in a `tf.function`)
    are checked then, raising InvalidArgumentError naming them, except in a
    function compiled as a whole with XLA, which drops assertions.

    Returns a dict of tensors:
      'vertices' [B, V, 3] (if return_vertices), 'joints' [B, 24, 3] posed
      joints, 'rest_joints' [B, 24, 3] J(β), 'landmarks14' [B, 14, 3] the
      original's 14 landmarks, 'extra_landmarks' [B, L, 3] (if landmark_vertex_ids),
      'relative_rotations' and 'absolute_rotations' [B, 24, 3, 3].
    """

    def __init__(self, body_model=None, rotation_mode="relative", landmark_vertex_ids=None,
                 jit_compile=True, **kwargs):
        super().__init__(**kwargs)
        if rotation_mode not in ROTATION_MODES:
            raise ValueError(f"SMPL: rotation_mode must be one of {ROTATION_MODES}, "
                             f"got '{rotation_mode}'")
        self.body_model = resolve_body_model(body_model)
        model = self.body_model
        if model.num_joints != constants.NUM_JOINTS:
            raise ValueError(f"SMPL: body model must have 24 joints, got {model.num_joints}")
        self.rotation_mode = rotation_mode
        # Indices stay NumPy: they shape the graph (gathers, the chain's levels).
        self._parents = model.parents
        self._landmark_vertex_ids = _check_vertex_ids(landmark_vertex_ids, model.num_vertices)
        self._ancestors = _array_weight(self, "ancestors", ancestor_matrix(model.parents))
        self._rest_joint_template = _array_weight(self, "rest_joint_template",
                                                  model.J_regressor @ model.v_template)
        # J(β) is linear in β: [S, J * 3].
        joint_dirs = np.einsum("jv,vcs->sjc", model.J_regressor, model.shapedirs)
        self._rest_joint_dirs = _array_weight(self, "rest_joint_dirs",
                                              joint_dirs.reshape(model.num_betas, -1))
        self._mesh = _PointSet(self, model, None, "mesh")
        self._landmark14_points = _PointSet(self, model, model.landmark_vertex_ids, "landmark14")
        self._extra_landmarks = None
        if self._landmark_vertex_ids is not None:
            self._extra_landmarks = _PointSet(self, model, self._landmark_vertex_ids,
                                              "landmarks")
        self._jit_compile = bool(jit_compile)
        # TensorFlow differentiates the compiled function with a compiled
        # backward function. (A tf.custom_gradient here would leak: in graph
        # mode it registers a gradient closure over the traced graph in
        # TensorFlow's global registry, so every trace stays alive.)
        self._forward = (tf.function(self._forward_impl, jit_compile=True, autograph=False)
                         if self._jit_compile else self._forward_impl)

    def rest_joints(self, betas):
        """J(β): [B, S] -> [B, 24, 3]."""
        offsets = tf.matmul(betas, self._rest_joint_dirs[: betas.shape[-1]])
        return self._rest_joint_template + tf.reshape(offsets, [-1, constants.NUM_JOINTS, 3])

    def _forward_impl(self, betas, pose, translation, return_vertices):
        if pose.shape.rank == 4:
            rotations = pose
        else:
            rotations = geometry.axis_angle_to_matrix(
                tf.reshape(pose, [-1, constants.NUM_JOINTS, 3]))
        if self.rotation_mode == "relative":
            relative = rotations
            absolute = geometry.relative_to_absolute(rotations, self._parents)
        else:
            absolute = rotations
            relative = geometry.absolute_to_relative(rotations, self._parents)
        rest_joints = self.rest_joints(betas)
        joints = posed_joints(absolute, rest_joints, self._parents, self._ancestors)
        transforms = skinning_transforms(absolute, rest_joints, joints)
        coefficients = blend_coefficients(betas, pose_feature(relative),
                                          self.body_model.num_betas)
        offset = 0.0 if translation is None else translation[:, None, :]
        outputs = {
            "joints": joints + offset,
            "rest_joints": rest_joints,
            "relative_rotations": relative,
            "absolute_rotations": absolute,
        }
        if return_vertices:
            outputs["vertices"] = self._mesh.pose(coefficients, transforms) + offset
            landmark_points = tf.gather(outputs["vertices"],
                                        self.body_model.landmark_vertex_ids, axis=1)
        else:
            landmark_points = self._landmark14_points.pose(coefficients, transforms) + offset
        outputs["landmarks14"] = tf.concat(
            [tf.gather(outputs["joints"], constants.LANDMARK14_JOINTS, axis=1), landmark_points],
            axis=1)
        if self._extra_landmarks is not None:
            outputs["extra_landmarks"] = (self._extra_landmarks.pose(coefficients, transforms)
                                          + offset)
        return outputs

    def __call__(self, *args, **kwargs):
        # Keras' generic __call__ (symbolic tracing, autocasting, masks) costs
        # about 1 ms per eager call and does nothing for this layer on concrete
        # tensors (its weights exist from __init__, in the compute dtype);
        # symbolic (functional-API) calls still use it.
        if tf.executing_eagerly() and not any(
                isinstance(value, keras.KerasTensor) for value in tf.nest.flatten((args, kwargs))):
            return self.call(*args, **kwargs)
        return super().__call__(*args, **kwargs)

    def call(self, betas, pose, translation=None, return_vertices=True):
        betas, pose, translation = self._checked_inputs(betas, pose, translation)
        return self._forward(betas, pose, translation, bool(return_vertices))

    def _checked_inputs(self, betas, pose, translation):
        """The call's arguments as tensors of the compute dtype, checked.

        What the static shapes leave open is checked at run time here, outside
        the XLA-compiled forward pass, where XLA would drop the assertions.
        """
        dtype = self.compute_dtype
        num_joints = constants.NUM_JOINTS
        inputs = {
            "betas": _check_num_betas(_check_input(betas, "betas", [("B", "S")], dtype),
                                      self.body_model.num_betas),
            "pose": _check_input(pose, "pose", [("B", num_joints * 3), ("B", num_joints, 3),
                                                ("B", num_joints, 3, 3)], dtype),
        }
        if translation is not None:
            inputs["translation"] = _check_input(translation, "translation", [("B", 3)], dtype)
        inputs = _check_batch_sizes(inputs)
        return inputs["betas"], inputs["pose"], inputs.get("translation")

    def load_own_variables(self, store):
        # Keras weights files written before the arrays became weights hold
        # none; the arrays then stay those of the body model.
        if len(store.keys()):
            super().load_own_variables(store)

    def get_config(self):
        """Keras config; the body model as its spec.

        Raises:
          ValueError: the body model was built in memory and has no spec
            (see `body.resolve.spec_of`).
        """
        config = super().get_config()
        ids = self._landmark_vertex_ids
        config.update(body_model=spec_of(self.body_model), rotation_mode=self.rotation_mode,
                      landmark_vertex_ids=None if ids is None else ids.tolist(),
                      jit_compile=self._jit_compile)
        return config
