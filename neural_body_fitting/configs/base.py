"""Experiment configuration: the original's options as a nested ml_collections ConfigDict.

The named experiments (`configs/demo.py`, `demo_up.py`, `ablations.py`; see
`configs/experiments.py`) start from `default_config()` and change what they
need; the binaries read them with absl's config flags, so any key
can be overridden from the command line (`--config.optim.lr=1e-4`). The returned
configs are locked: a misspelt key is an error, not a silent new option.
"""
import math

import ml_collections

from neural_body_fitting import constants, losses, registries
from neural_body_fitting.body import parameter_records
from neural_body_fitting.configs import migration
from neural_body_fitting.data import encodings, keypoint_noise
from neural_body_fitting.utils import registry

LR_POLICIES = ("poly", "step", "constant")


def default_config():
    """The original's training settings with our data defaults, in five groups.

    `data` what the network is given, `model` the networks, `loss` the
    objective, `optim` the optimisation, `runtime` where the data is read
    and how the run executes. Everything but `runtime` defines a run: a
    resumed or evaluating command must agree with the run's record on it.
    Where a default deliberately differs from the original, the line says
    so; `configs/demo_up.py` is the original's released experiment exactly.
    """
    config = ml_collections.ConfigDict()
    # What a run trains (`registries.TASKS`): "fitting" the fitting network
    # (stage 2), "segmentation" the part segmenter (stage 1; configs/segmentation.py).
    config.stage = "fitting"
    config.data = ml_collections.ConfigDict({
        "input_type": "parts12",
        "input_size": constants.FIT_SIZE,  # The original's `interm_size`.
        # The 14 LSP-style landmarks of the paper's evaluation and of our
        # datasets' default; the released `demo_up` model used 24.
        "num_landmarks": 14,
        # The segmentation stage's on-the-fly augmentation (data.augment).
        "augment": ml_collections.ConfigDict({
            "flip_probability": 0.5,
            "scale_range": (0.9, 1.1),
            "max_rotation": 45.0,  # Degrees, either way.
        }),
        # Ours: detector-like corruption of the landmarks that joint maps
        # (joints14/24) draw in training (data.keypoint_noise; the
        # `keypoints_fit` experiment sets measured values). Off by default.
        "keypoint_corruption": ml_collections.ConfigDict({
            "jitter": 0.0,     # Per-axis standard deviation, fraction of the person's size.
            "swap_rate": 0.0,  # Probability that a person's left and right are exchanged.
            "drop_rate": 0.0,  # Probability that a landmark is missing.
        }),
    })
    config.model = ml_collections.ConfigDict({
        "body_model": "",  # "" uses $NBF_SMPL_MODEL or the synthetic model.
        "bn_decay": constants.BN_DECAY,
        "fitting": ml_collections.ConfigDict({
            "encoder_type": "resnet_v1_50",  # `registries.ENCODERS`.
            "use_absrot": True,
            "use_svd": True,
            "latent_components": "betas,pose",
            "use_gt_translation": True,  # The original's `use_gt_trans`.
            # Prefix of <prefix>_mean.npy / _std.npy, may contain {dataset_root}.
            # The original read statistics files shipped with its data; ""
            # computes them from the training split and keeps them with the run.
            "latent_stats": "",
        }),
        "segmenter": ml_collections.ConfigDict({
            "network": "refinenet_resnet_v1_101",  # `registries.SEGMENTERS`.
            "num_classes": 13,  # Background + 12 parts; any granularity + 1 works.
        }),
    })
    config.loss = ml_collections.ConfigDict({
        # term -> (kind, weight): `registries.LOSS_TERMS`, `registries.LOSS_KINDS`.
        "terms": ml_collections.ConfigDict({
            "model_parameters": ("mabserr", 1.0),
            "joint_locations_projected": ("euclidist", 1.0),
        }),
        "weight_decay": 1e-4,
    })
    config.optim = ml_collections.ConfigDict({
        "lr": 4e-5,
        "lr_policy": "poly",
        "lr_power": 0.9,
        "lr_step_size": 10000,
        "lr_gamma": 0.1,
        "beta1": 0.5,
        "batch_size": 5,
        "seed": constants.SEED,
        "mixed_precision": False,
    })
    config.runtime = ml_collections.ConfigDict({
        "dataset_root": "",
        "train_split": "train",
        "eval_split": "val",
        "cache_inputs": False,
        "skip_bad_samples": False,
        "max_epochs": 75,
        "max_steps": 0,  # > 0 overrides max_epochs.
        "strategy": "default",
        "xla": False,
        # The body model's forward pass compiled with XLA on its own (when the step
        # is not compiled whole): faster steps after ~1 s of compiling. False suits
        # runs of a few steps, and debugging (XLA drops run-time checks).
        "compile_body_model": True,
        "save_freq": 1000,
        "summary_freq": 100,
        "keep_checkpoints": 3,
        # Ours: held-out metrics on eval_split every this many steps (0: never);
        # see evaluation.Validator.
        "validation_freq": 0,
        "image_summaries": True,
    })
    config.lock()
    # Loss terms are a mapping whose keys are chosen per experiment; they are
    # checked by name in `validate` instead.
    config.loss.terms.unlock()
    return config


# The groups whose values may differ between a run's record and a command
# that resumes or evaluates it.
OPERATIONAL_GROUPS = ("runtime",)


def flat_keys(config):
    """Dotted names of every leaf: ('stage', 'data.input_type', ..., 'runtime.image_summaries').

    The loss terms count as one leaf (`loss.terms`).
    """
    return tuple(migration.flatten(config.to_dict()))


def lookup(config, dotted):
    """config['a.b.c'] for a dotted key."""
    value = config
    for part in dotted.split("."):
        value = value[part]
    return value


def validate(config):
    """ValueError naming the first bad option (called by the binaries at start-up)."""
    registries.TASKS.check(config.stage, "config.stage")
    _check_segmentation_options(config)
    fitting = config.model.fitting
    registries.ENCODERS.check(fitting.encoder_type, "config.model.fitting.encoder_type")
    try:
        encodings.parse_input_type(config.data.input_type)
    except ValueError as error:
        raise ValueError(f"config.data.{error}") from None
    try:
        parameter_records.check_components(fitting.latent_components)
    except ValueError as error:
        raise ValueError(f"config.model.fitting.{error}") from None
    _check_choice(config, "optim.lr_policy", LR_POLICIES)
    registries.STRATEGIES.check(config.runtime.strategy, "config.runtime.strategy")
    _check_choice(config, "data.num_landmarks", (14, 24))
    terms = dict(config.loss.terms)
    if not terms:
        raise ValueError("config.loss.terms: at least one loss term is needed")
    losses.check_loss_terms(terms, config.data.num_landmarks, "config.loss.terms")
    for key, (low, high, closed) in NUMERIC_RANGES.items():
        _check_range(config, key, low, high, closed)
    if keypoint_noise.KeypointCorruption.from_config(config).active and (
            not config.data.input_type.startswith("joints")):
        raise ValueError("config.data.keypoint_corruption: corrupts the landmarks of joint "
                         f"maps (input types joints14, joints24), not "
                         f"'{config.data.input_type}'")
    if config.runtime.max_steps == 0 and config.runtime.max_epochs < 1:
        raise ValueError("config.runtime.max_epochs: must be >= 1 when config.runtime.max_steps "
                         f"is 0, got {config.runtime.max_epochs}")
    for term, (_, weight) in terms.items():
        if not (math.isfinite(float(weight)) and float(weight) >= 0):
            raise ValueError(f"config.loss.terms.{term}: the weight must be finite and >= 0, "
                             f"got {weight}")
    return config


def _check_choice(config, key, choices):
    value = lookup(config, key)
    if value not in choices:
        raise ValueError(f"config.{key}: expected one of {choices}, got {value!r}")


def _check_segmentation_options(config):
    segmenter = config.model.segmenter
    registries.SEGMENTERS.check(segmenter.network, "config.model.segmenter.network")
    try:
        encodings.granularity_of_classes(segmenter.num_classes)
    except ValueError as error:
        raise ValueError(f"config.model.segmenter.{error}") from None
    scales = config.data.augment.scale_range
    if not (len(scales) == 2 and all(isinstance(s, (int, float)) and math.isfinite(s)
                                     for s in scales) and 0 < scales[0] <= scales[1]):
        raise ValueError("config.data.augment.scale_range: expected (low, high) with "
                         f"0 < low <= high, got {scales}")
    if config.stage == "segmentation" and config.runtime.validation_freq:
        raise ValueError("config.runtime.validation_freq: held-out validation during training "
                         "exists for the fitting stage only; evaluate a segmentation run "
                         "with nbf-eval")


# key -> (lowest, highest, whether the bounds are allowed): every numeric option.
NUMERIC_RANGES = {
    "data.input_size": (32, 4096, True), "optim.batch_size": (1, 1 << 16, True),
    "model.bn_decay": (0.0, 1.0, False), "loss.weight_decay": (0.0, math.inf, True),
    "optim.lr": (0.0, math.inf, False), "optim.lr_power": (0.0, math.inf, False),
    "optim.lr_step_size": (1, math.inf, True), "optim.lr_gamma": (0.0, 1.0, True),
    "optim.beta1": (0.0, 1.0, True), "runtime.max_epochs": (0, math.inf, True),
    "runtime.max_steps": (0, math.inf, True), "optim.seed": (0, 2 ** 32 - 1, True),
    "runtime.save_freq": (1, math.inf, True), "runtime.summary_freq": (1, math.inf, True),
    "runtime.keep_checkpoints": (1, math.inf, True),
    "runtime.validation_freq": (0, math.inf, True),
    "data.augment.flip_probability": (0.0, 1.0, True),
    "data.augment.max_rotation": (0.0, 180.0, True),
    "data.keypoint_corruption.jitter": (0.0, 1.0, True),
    "data.keypoint_corruption.swap_rate": (0.0, 1.0, True),
    "data.keypoint_corruption.drop_rate": (0.0, 1.0, True),
}


def _check_range(config, key, low, high, closed):
    value = lookup(config, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"config.{key}: expected a number, got {value!r}")
    inside = low <= value <= high if closed else low < value < high
    if not (math.isfinite(value) and inside) and not (closed and value == high == math.inf):
        brackets = "[]" if closed else "()"
        raise ValueError(f"config.{key}: must be in {brackets[0]}{low}, {high}{brackets[1]}, "
                         f"got {value}")


def config_keys():
    """The config keys as a registry (`utils.registry`): one 'unknown config key' message.

    0.2's flat names (`lr`, `dataset_root`) are suggested as their new
    dotted names (`optim.lr`, `runtime.dataset_root`).
    """
    synonyms = {**migration.SYNONYMS, **migration.FLAT_KEYS}
    return registry.Registry("config key", dict.fromkeys(flat_keys(default_config()), True),
                             synonyms=synonyms)


def config_from_dict(values, where="config"):
    """A config from a plain dict (a run record's, nested or 0.2's flat one).

    Unknown keys and values of the wrong type are errors naming `where` and the key
    (with the closest known key).
    """
    config = default_config()
    known = config_keys()
    for key, value in migration.flatten(migration.nest_flat_config(values)).items():
        known.check(key, where)
        if key == "loss.terms":
            with config.unlocked():
                config.loss.terms = {term: tuple(entry) for term, entry in value.items()}
            config.loss.terms.unlock()
        else:
            group, _, leaf = key.rpartition(".")
            try:
                (lookup(config, group) if group else config)[leaf] = value
            except TypeError as error:  # ml_collections keeps each field's type.
                raise ValueError(f"{where}: config.{key} = {value!r} has the wrong type "
                                 f"({error})") from None
    return config
