"""The original's loss kinds and their combination into the training objective.

A config maps a term to (kind, weight), as the original's `loss_terms`:

  model_parameters           latent z against the target latent (minus the mean)
  joint_locations_betas      rest joints J(β)
  joint_locations_posed      posed 3D joints (14 landmarks or 24 joints)
  joint_locations_projected  2D joints, normalised as x / 112 - 1

Terms on 3D labels (the first three) use only samples whose latent flag is 1;
a batch without any contributes 0 for them. Losses are reduced as sums over
the replica's samples divided by the global number of contributing samples,
so the gradient is the same however the batch is split across replicas.
"""
import tensorflow as tf

from neural_body_fitting import constants, geometry
from neural_body_fitting.losses import replicas

TUKEY_C = 4.6851
ROBUST_OFFSET = 0.05  # euclidist_robust_v1: distances below this cost nothing.
TERMS = ("model_parameters", "joint_locations_betas", "joint_locations_posed",
         "joint_locations_projected")
_3D_TERMS = TERMS[:3]


def _squared(difference):
    return tf.square(difference)


def _tukey(difference):
    # Residuals in units of a robust scale: 1.4826 x median absolute deviation.
    # The median of an even count is the mean of the two middle values.
    ordered = tf.sort(tf.reshape(tf.abs(difference), [-1]))
    count = tf.size(ordered)
    median = 0.5 * (ordered[(count - 1) // 2] + ordered[count // 2])
    scale = 1.4826 * median + 1e-6
    r = difference / scale
    inside = tf.abs(r) <= TUKEY_C
    rho = TUKEY_C ** 2 / 6.0 * (1.0 - (1.0 - (r / TUKEY_C) ** 2) ** 3)
    return tf.where(inside, rho, TUKEY_C ** 2 / 6.0)


def elementwise_kinds():
    """Kinds computed per coordinate: f(difference, std) -> error."""
    return {
        "mabserr": lambda d, std: tf.abs(d),
        "msqerr": lambda d, std: _squared(d),
        "gmc_var": lambda d, std: _squared(d) / (std + _squared(d)),
        "gmc_std": lambda d, std: _squared(d) / (tf.square(std) + _squared(d)),
        "tukey": lambda d, std: _tukey(d),
    }


def pointwise_kinds():
    """Kinds computed per point (last axis = coordinates): f(distance) -> error."""
    return {
        "euclidist": lambda dist: dist,
        "sqeuclidist": lambda dist: tf.square(dist),
        "euclidist_robust_v1": lambda dist: tf.nn.relu(dist - ROBUST_OFFSET),
    }


SIMTRANS = ("", "_simtrans_neck", "_simtrans_hips")
KINDS = tuple(base + suffix for base in (*elementwise_kinds(), *pointwise_kinds())
              for suffix in SIMTRANS)


def check_loss_terms(loss_terms, num_landmarks):
    """ValueError naming an unknown term or kind, or a simtrans kind that cannot apply."""
    for term, (kind, weight) in loss_terms.items():
        if term not in TERMS:
            raise ValueError(f"loss_terms: unknown term '{term}'; terms are {TERMS}")
        if kind not in KINDS:
            raise ValueError(f"loss_terms['{term}']: unknown kind '{kind}'; kinds are {KINDS}")
        if "simtrans" in kind and (term != "joint_locations_projected" or num_landmarks != 14):
            raise ValueError(f"loss_terms['{term}']: '{kind}' applies only to "
                             "joint_locations_projected with 14 landmarks")
        float(weight)


def _simtrans_reference(points, kind):
    """The 2D point subtracted by a simtrans kind: neck or the centre of the hips."""
    if kind.endswith("_neck"):
        return points[:, 12:13]
    return 0.5 * (points[:, 2:3] + points[:, 3:4])


def per_sample(kind, prediction, target, std=None):
    """Per-sample error [B] of a loss kind (mean over the sample's values or points)."""
    base = kind
    for suffix in SIMTRANS[1:]:
        if kind.endswith(suffix):
            base = kind[:-len(suffix)]
            prediction = prediction - _simtrans_reference(prediction, kind)
            target = target - _simtrans_reference(target, kind)
    difference = prediction - target
    if base in pointwise_kinds():
        distance = tf.sqrt(tf.reduce_sum(tf.square(difference), -1) + 1e-12)
        errors = pointwise_kinds()[base](distance)
    else:
        # σ = 1 without statistics, as a tensor of the inputs' dtype (tf.square(1.0)
        # would be float32 and fail against float64 differences in gmc_std).
        std = tf.ones([], difference.dtype) if std is None else std
        errors = elementwise_kinds()[base](difference, std)
    return tf.reduce_mean(tf.reshape(errors, [tf.shape(errors)[0], -1]), axis=1)


def loss_terms_values(loss_terms, outputs, batch, latent_std=None):
    """{term: scaled loss} for one replica's batch.

    Each term is sum(weight x per-sample error over contributing samples) /
    (number of contributing samples in the global batch).
    """
    targets = {
        "model_parameters": ("latent", "latent"),
        "joint_locations_betas": ("rest_joints", "rest_joints"),
        "joint_locations_posed": ("landmarks", "landmarks"),
        "joint_locations_projected": ("landmarks_2d", "landmarks_2d"),
    }
    values = {}
    for term, (kind, weight) in loss_terms.items():
        output_key, batch_key = targets[term]
        prediction = outputs[output_key]
        target = tf.cast(batch[batch_key], prediction.dtype)
        flags = tf.cast(batch["latent_flag"], prediction.dtype)
        if term == "joint_locations_projected":
            prediction = geometry.normalise_pixels(prediction, constants.FIT_SIZE)
            target = geometry.normalise_pixels(target, constants.FIT_SIZE)
        std = (tf.cast(latent_std, prediction.dtype)
               if term == "model_parameters" and latent_std is not None else None)
        errors = per_sample(kind, prediction, target, std)
        mask = flags if term in _3D_TERMS else tf.ones_like(flags)
        count = replicas.global_sum(tf.reduce_sum(mask))
        values[term] = float(weight) * tf.reduce_sum(errors * mask) / tf.maximum(count, 1.0)
    return values


def weight_decay(model, factor):
    """factor x sum over conv/dense kernels of l2_loss (sum(x²) / 2), as the original."""
    kernels = [v for v in model.trainable_variables if v.path.endswith("kernel")]
    return factor * tf.add_n([tf.reduce_sum(tf.square(k)) / 2.0 for k in kernels])
