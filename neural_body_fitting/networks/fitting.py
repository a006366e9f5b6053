"""The NBF fitting network: part map -> latent -> SMPL -> 3D and 2D joints.

  input [B, S, S, 3] ─ encoder ─ global pool ─ dense (N(0, 0.02)) = latent z
  z + latent mean ─ betas [B, 10], 24 matrices [B, 24, 3, 3] (─ SVD to SO(3))
  ─ SMPL (absolute or relative rotations) ─ + translation ─ projection (224 px)

The dense head is named `generator` so its slim variables are
`generator/weights` and `generator/biases`, and the encoder's are
`generator/<encoder scope>/...` as in the original checkpoints.

`build_fitting_model(config, statistics_mean)` is the one way the library
makes this network from an experiment config (training, evaluation and
porting all call it). `NBFModel.get_config()` holds the options, the body
model's spec and the latent mean, from which `NBFModel.from_config` rebuilds
the same architecture; the latent mean and the SMPL arrays are non-trainable
weights, so a SavedModel carries them.
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf

from neural_body_fitting import constants, geometry
from neural_body_fitting.body import parameter_records, resolve, smpl
from neural_body_fitting.networks import backbones, construction


@dataclasses.dataclass(frozen=True)
class FittingOptions:
    """What defines the fitting network (its part of an experiment config, see `from_config`).

    Field names are those of the options dict that 0.2 stored in Keras and
    SavedModel files, so `FittingOptions(**stored)` reads them.
    """

    encoder_type: str = "resnet_v1_50"  # `registries.ENCODERS`.
    input_size: int = constants.FIT_SIZE
    bn_decay: float = constants.BN_DECAY
    use_absrot: bool = True
    use_svd: bool = True
    num_landmarks: int = 14  # 14 landmarks or SMPL's 24 joints.
    latent_components: str = "betas,pose"
    seed: int = constants.SEED  # The initial weights.
    # The encoder in float16; the head, SVD, SMPL and projection stay float32.
    mixed_precision: bool = False
    # What the network reads (`encodings.INPUT_TYPES`): serving draws it so
    # (parts12 from photos or part maps, joints14 from detected landmarks).
    input_type: str = "parts12"

    def __post_init__(self):
        if self.num_landmarks not in (14, 24):
            raise ValueError(f"num_landmarks must be 14 or 24, got {self.num_landmarks}")
        parameter_records.check_components(self.latent_components)

    @classmethod
    def from_config(cls, config):
        fitting = config.model.fitting
        return cls(encoder_type=fitting.encoder_type, input_size=int(config.data.input_size),
                   bn_decay=float(config.model.bn_decay), use_absrot=bool(fitting.use_absrot),
                   use_svd=bool(fitting.use_svd), num_landmarks=int(config.data.num_landmarks),
                   latent_components=fitting.latent_components, seed=int(config.optim.seed),
                   mixed_precision=bool(config.optim.mixed_precision),
                   input_type=config.data.input_type)

    @property
    def rotation_mode(self):
        return parameter_records.rotation_mode(self.use_absrot)


class NBFModel(keras.Model):
    """The fitting network (see module docstring).

    Args:
      options: `FittingOptions`, or a dict of its fields (as stored by `get_config`).
      body_model: BodyModel, spec or None (see `body.resolve_body_model`).
      latent_mean: [latent_size] mean of the latent (training statistics), or None (zeros).
      compile_body_model: XLA-compile the SMPL layer's forward pass (how it runs,
        not what it computes, so not part of `get_config`).
    """

    def __init__(self, options, body_model=None, latent_mean=None, compile_body_model=True,
                 **kwargs):
        super().__init__(name="generator", **kwargs)
        self.options = (options if isinstance(options, FittingOptions)
                        else FittingOptions(**options))
        size = self.options.input_size
        self.latent_size = parameter_records.latent_size(self.options.latent_components)
        mixed = self.options.mixed_precision
        # Under mixed precision only the encoder computes in float16; otherwise
        # every layer follows the global policy (float64 in reference tests).
        exact = "float32" if mixed else None
        with construction.seeded(self.options.seed), construction.dtype_policy(
                "mixed_float16" if mixed else None):
            self.encoder = backbones.build_encoder(self.options.encoder_type,
                                                   (size, size, 3), self.options.bn_decay)
        self.head = keras.layers.Dense(
            self.latent_size, kernel_initializer=keras.initializers.RandomNormal(
                stddev=0.02, seed=self.options.seed), dtype=exact, name="generator")
        mean = np.zeros(self.latent_size, np.float32) if latent_mean is None else latent_mean
        if np.shape(mean) != (self.latent_size,):
            raise ValueError(f"latent_mean must have {self.latent_size} values, "
                             f"got {np.shape(mean)}")
        self.latent_mean = self.add_weight(
            shape=(self.latent_size,), dtype="float32", trainable=False, autocast=False,
            initializer=lambda shape, dtype: tf.constant(mean, dtype), name="latent_mean")
        self.smpl = smpl.SMPL(body_model, rotation_mode=self.options.rotation_mode, dtype=exact,
                              jit_compile=compile_body_model)

    def call(self, inputs, translation=None, training=False, return_vertices=False):
        """inputs [B, S, S, 3] in [-1, 1]; translation [B, 3] (None: fixed or predicted)."""
        latent = self.head(self.encoder(inputs, training=training))
        full = latent + tf.cast(self.latent_mean, latent.dtype)
        betas = full[:, parameter_records.BETAS]
        rotations = tf.reshape(full[:, parameter_records.ROTATIONS],
                               [-1, constants.NUM_JOINTS, 3, 3])
        if self.options.use_svd:
            rotations = geometry.project_to_so3(rotations)
        if translation is None:
            translation = tf.broadcast_to(tf.constant(constants.FIXED_TRANSLATION, latent.dtype),
                                          [tf.shape(latent)[0], 3])
            if self.latent_size > parameter_records.LATENT_TRANSLATION.start:
                translation = tf.concat([full[:, parameter_records.LATENT_TRANSLATION],
                                         translation[:, 2:]], axis=1)
        body = self.smpl(betas, rotations, translation, return_vertices=return_vertices)
        landmarks = smpl.run_landmarks(body, self.options.num_landmarks)
        outputs = {
            "latent": latent, "betas": betas, "rotations": rotations,
            "rest_joints": body["rest_joints"], "smpl_joints": body["joints"],
            "landmarks": landmarks,
            "landmarks_2d": geometry.project_points(landmarks, constants.FIT_SIZE),
            "translation": translation,
        }
        if return_vertices:
            outputs["vertices"] = body["vertices"]
        return outputs

    def load_own_variables(self, store):
        # Keras weights files written before the latent mean became a weight
        # hold none; it then stays the one given to __init__.
        if len(store.keys()):
            super().load_own_variables(store)

    def get_config(self):
        """{'options', 'body_model' (spec), 'latent_mean' (list)}: `__init__`'s arguments.

        Raises:
          ValueError: the body model has no spec (see `body.resolve.spec_of`).
        """
        return {"options": dataclasses.asdict(self.options),
                "body_model": resolve.spec_of(self.smpl.body_model),
                "latent_mean": self.latent_mean.numpy().tolist()}

    def slim_variable_names(self, scope="generator/"):
        """{original TF1 variable name: our variable} (see porting)."""
        names = backbones.slim_variable_names(self.encoder, scope)
        names[f"{scope}weights"] = self.head.kernel
        names[f"{scope}biases"] = self.head.bias
        return names


def build_fitting_model(config, statistics_mean=None, body_model=None):
    """The fitting network of an experiment config, with its weights created.

    Args:
      config: an experiment config (see `configs.base`); `config.model.body_model`
        chooses the body model unless `body_model` is given.
      statistics_mean: [229] latent-statistics mean, or None (zero latent mean).
      body_model: BodyModel or spec overriding `config.model.body_model`.

    `config.runtime.compile_body_model` chooses whether the SMPL layer is XLA-compiled.
    """
    options = FittingOptions.from_config(config)
    mean = (None if statistics_mean is None else
            parameter_records.latent_from_statistics(statistics_mean, options.latent_components)
            .astype(np.float32))
    model = NBFModel(options, body_model or config.model.body_model or None, mean,
                     compile_body_model=config.runtime.compile_body_model)
    size = options.input_size
    model(tf.zeros([1, size, size, 3]))
    return model
