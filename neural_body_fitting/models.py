"""The NBF fitting network: part map -> latent -> SMPL -> 3D and 2D joints.

  input [B, S, S, 3] ─ encoder ─ global pool ─ dense (N(0, 0.02)) = latent z
  z + latent mean ─ betas [B, 10], 24 matrices [B, 24, 3, 3] (─ SVD to SO(3))
  ─ SMPL (absolute or relative rotations) ─ + translation ─ projection (224 px)

The dense head is named `generator` so its slim variables are
`generator/weights` and `generator/biases`, and the encoder's are
`generator/<encoder scope>/...` as in the original checkpoints.
"""
import keras
import numpy as np
import tensorflow as tf

from neural_body_fitting import constants, geometry, networks, smpl

LATENT_BASE = constants.NUM_BETAS + 9 * constants.NUM_JOINTS  # 226


def latent_size(config):
    """10 betas + 216 rotation entries (+ 2 translation offsets when predicted)."""
    return LATENT_BASE + (2 if config.predict_translation else 0)


def latent_mean_for(config, stats_mean):
    """The [latent_size] mean added to the head's output, from a [229] stats mean."""
    stats_mean = np.asarray(stats_mean, np.float32).reshape(-1)
    if stats_mean.shape != (229,):
        raise ValueError(f"latent statistics must hold 229 values, got {stats_mean.size}")
    mean = stats_mean[:LATENT_BASE]
    if config.predict_translation:
        mean = np.concatenate([mean, stats_mean[226:228]])
    return mean


class NBFModel(keras.Model):
    """The fitting network (see module docstring).

    Args:
      config: an ml_collections config with encoder_type, input_size,
        use_absrot, use_svd, num_landmarks, predict_translation.
      body_model: BodyModel, path or None (synthetic / $NBF_SMPL_MODEL).
      latent_mean: [latent_size(config)] mean of the latent (training statistics).
    """

    def __init__(self, config, body_model=None, latent_mean=None, **kwargs):
        super().__init__(name="generator", **kwargs)
        self.config = config
        size = config.input_size
        self.encoder = networks.build_encoder(config.encoder_type, (size, size, 3),
                                              config.get("bn_decay", networks.BN_DECAY))
        self.head = keras.layers.Dense(
            latent_size(config), kernel_initializer=keras.initializers.RandomNormal(
                stddev=0.02, seed=config.seed), name="generator")
        mean = np.zeros(latent_size(config), np.float32) if latent_mean is None else latent_mean
        if np.shape(mean) != (latent_size(config),):
            raise ValueError(f"latent_mean must have {latent_size(config)} values, "
                             f"got {np.shape(mean)}")
        self.latent_mean = tf.constant(mean, tf.float32)
        self.smpl = smpl.SMPL(body_model, rotation_mode="absolute" if config.use_absrot
                              else "relative")
        if config.num_landmarks not in (14, 24):
            raise ValueError(f"num_landmarks must be 14 or 24, got {config.num_landmarks}")

    def call(self, inputs, translation=None, training=False, return_vertices=False):
        """inputs [B, S, S, 3] in [-1, 1]; translation [B, 3] (None: fixed/predicted)."""
        latent = self.head(self.encoder(inputs, training=training))
        full = latent + tf.cast(self.latent_mean, latent.dtype)
        betas = full[:, :constants.NUM_BETAS]
        rotations = tf.reshape(full[:, constants.NUM_BETAS:LATENT_BASE], [-1, 24, 3, 3])
        if self.config.use_svd:
            rotations = geometry.project_to_so3(rotations)
        if translation is None:
            translation = tf.broadcast_to(tf.constant(constants.FIXED_TRANSLATION, latent.dtype),
                                          [tf.shape(latent)[0], 3])
            if self.config.predict_translation:
                translation += tf.pad(full[:, LATENT_BASE:], [[0, 0], [0, 1]])
        body = self.smpl(betas, rotations, translation, return_vertices=return_vertices)
        joints = body["landmarks14"] if self.config.num_landmarks == 14 else body["joints"]
        outputs = {
            "latent": latent, "betas": betas, "rotations": rotations,
            "rest_joints": body["rest_joints"], "smpl_joints": body["joints"],
            "joints": joints, "joints_2d": geometry.project_points(joints, constants.FIT_SIZE),
            "translation": translation,
        }
        if return_vertices:
            outputs["vertices"] = body["vertices"]
        return outputs

    def slim_variable_names(self, scope="generator/"):
        """{original TF1 variable name: our variable} (see porting)."""
        names = networks.slim_variable_names(self.encoder, scope)
        names[f"{scope}weights"] = self.head.kernel
        names[f"{scope}biases"] = self.head.bias
        return names
