"""Experiment configuration: the original's options as an ml_collections ConfigDict.

The named experiments (`configs/demo.py`, `demo_up.py`, `ablations.py`; see
`configs/experiments.py`) start from `default_config()` and change what they
need; the binaries read them with absl's config flags, so any key
can be overridden from the command line (`--config.lr=1e-4`). The returned
configs are locked: a misspelt key is an error, not a silent new option.
"""
import difflib
import math

import ml_collections

from neural_body_fitting import constants, losses, networks
from neural_body_fitting.body import parameter_records
from neural_body_fitting.data import encodings

STAGES = ("fitting", "segmentation")
LR_POLICIES = ("poly", "step", "constant")
STRATEGIES = ("default", "mirrored", "multi_worker")


def default_config():
    """The original's training settings with our data defaults.

    Where a default deliberately differs from the original, the line says so;
    `configs/demo_up.py` is the original's released experiment exactly.
    """
    config = ml_collections.ConfigDict()
    # What a run trains: "fitting" the fitting network (stage 2), "segmentation"
    # the part segmenter (stage 1; configs/segmentation.py).
    config.stage = "fitting"
    # Data.
    config.dataset_root = ""
    config.train_split = "train"
    config.eval_split = "val"
    config.input_type = "parts12"
    config.input_size = constants.FIT_SIZE  # The original's `interm_size`.
    # Prefix of <prefix>_mean.npy / _std.npy, may contain {dataset_root}. The
    # original read statistics files shipped with its data; "" computes them
    # from the training split and keeps them with the run.
    config.latent_stats = ""
    config.body_model = ""  # "" uses $NBF_SMPL_MODEL or the synthetic model.
    config.cache_inputs = False
    config.skip_bad_samples = False
    # Model.
    config.encoder_type = "resnet_v1_50"
    config.bn_decay = networks.BN_DECAY
    config.use_absrot = True
    config.use_svd = True
    config.latent_components = "betas,pose"
    # Segmentation stage: the network, its classes (background + 12 parts; any
    # granularity + 1 works) and the on-the-fly augmentation (data.augment).
    config.segmenter = "refinenet_resnet_v1_101"
    config.num_classes = 13
    config.augment_flip_probability = 0.5
    config.augment_scale_range = (0.9, 1.1)
    config.augment_max_rotation = 45.0  # Degrees, either way.
    # The 14 LSP-style landmarks of the paper's evaluation and of our datasets'
    # default; the released `demo_up` model used 24 (see configs/demo_up.py).
    config.num_landmarks = 14
    config.use_gt_translation = True  # The original's `use_gt_trans`.
    # Losses: term -> (kind, weight).
    config.loss_terms = ml_collections.ConfigDict({
        "model_parameters": ("mabserr", 1.0),
        "joint_locations_projected": ("euclidist", 1.0),
    })
    config.weight_decay = 1e-4
    # Optimisation.
    config.lr = 4e-5
    config.lr_policy = "poly"
    config.lr_power = 0.9
    config.lr_step_size = 10000
    config.lr_gamma = 0.1
    config.beta1 = 0.5
    config.batch_size = 5
    config.max_epochs = 75
    config.max_steps = 0  # > 0 overrides max_epochs.
    config.seed = constants.SEED
    config.strategy = "default"
    config.mixed_precision = False
    config.xla = False
    # Bookkeeping.
    config.save_freq = 1000
    config.summary_freq = 100
    config.keep_checkpoints = 3
    # Ours: held-out metrics on eval_split every this many steps (0: never);
    # see evaluation.Validator.
    config.validation_freq = 0
    config.image_summaries = True
    config.lock()
    # Loss terms are a mapping whose keys are chosen per experiment; they are
    # checked by name in `validate` instead.
    config.loss_terms.unlock()
    return config


def validate(config):
    """ValueError naming the first bad option (called by the binaries at start-up)."""
    if config.stage not in STAGES:
        raise ValueError(f"config.stage: expected one of {STAGES}, got '{config.stage}'")
    _check_segmentation_options(config)
    if config.encoder_type not in networks.ENCODERS:
        raise ValueError(f"config.encoder_type: unknown '{config.encoder_type}', expected one of "
                         f"{sorted(networks.ENCODERS)}")
    encodings.parse_input_type(config.input_type)
    try:
        parameter_records.check_components(config.latent_components)
    except ValueError as error:
        raise ValueError(f"config.{error}") from None
    if config.lr_policy not in LR_POLICIES:
        raise ValueError(f"config.lr_policy: expected one of {LR_POLICIES}, got "
                         f"'{config.lr_policy}'")
    if config.strategy not in STRATEGIES:
        raise ValueError(f"config.strategy: expected one of {STRATEGIES}, got "
                         f"'{config.strategy}'")
    if config.num_landmarks not in (14, 24):
        raise ValueError(f"config.num_landmarks: expected 14 or 24, got {config.num_landmarks}")
    if not config.loss_terms:
        raise ValueError("config.loss_terms: at least one loss term is needed")
    losses.check_loss_terms(dict(config.loss_terms), config.num_landmarks)
    for key, (low, high, closed) in NUMERIC_RANGES.items():
        _check_range(config, key, low, high, closed)
    if config.max_steps == 0 and config.max_epochs < 1:
        raise ValueError("config.max_epochs: must be >= 1 when config.max_steps is 0, "
                         f"got {config.max_epochs}")
    for term, (_, weight) in config.loss_terms.items():
        if not (math.isfinite(float(weight)) and float(weight) >= 0):
            raise ValueError(f"config.loss_terms.{term}: the weight must be finite and >= 0, "
                             f"got {weight}")
    return config


def _check_segmentation_options(config):
    if config.segmenter not in networks.SEGMENTERS:
        raise ValueError(f"config.segmenter: unknown '{config.segmenter}', expected one of "
                         f"{networks.SEGMENTERS}")
    try:
        encodings.granularity_of_classes(config.num_classes)
    except ValueError as error:
        raise ValueError(f"config.{error}") from None
    scales = config.augment_scale_range
    if not (len(scales) == 2 and all(isinstance(s, (int, float)) and math.isfinite(s)
                                     for s in scales) and 0 < scales[0] <= scales[1]):
        raise ValueError("config.augment_scale_range: expected (low, high) with "
                         f"0 < low <= high, got {scales}")
    if config.stage == "segmentation" and config.validation_freq:
        raise ValueError("config.validation_freq: held-out validation during training "
                         "exists for the fitting stage only; evaluate a segmentation run "
                         "with nbf-eval")


# key -> (lowest, highest, whether the bounds are allowed): every numeric option.
NUMERIC_RANGES = {
    "input_size": (32, 4096, True), "batch_size": (1, 1 << 16, True),
    "bn_decay": (0.0, 1.0, False), "weight_decay": (0.0, math.inf, True),
    "lr": (0.0, math.inf, False), "lr_power": (0.0, math.inf, False),
    "lr_step_size": (1, math.inf, True), "lr_gamma": (0.0, 1.0, True),
    "beta1": (0.0, 1.0, True), "max_epochs": (0, math.inf, True),
    "max_steps": (0, math.inf, True), "seed": (0, 2 ** 32 - 1, True),
    "save_freq": (1, math.inf, True), "summary_freq": (1, math.inf, True),
    "keep_checkpoints": (1, math.inf, True), "validation_freq": (0, math.inf, True),
    "augment_flip_probability": (0.0, 1.0, True), "augment_max_rotation": (0.0, 180.0, True),
}


def _check_range(config, key, low, high, closed):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"config.{key}: expected a number, got {value!r}")
    inside = low <= value <= high if closed else low < value < high
    if not (math.isfinite(value) and inside) and not (closed and value == high == math.inf):
        brackets = "[]" if closed else "()"
        raise ValueError(f"config.{key}: must be in {brackets[0]}{low}, {high}{brackets[1]}, "
                         f"got {value}")


def config_from_dict(values, where="config"):
    """A validated-shape config from a plain dict (e.g. a run record's); unknown keys are errors."""
    config = default_config()
    for key, value in values.items():
        if key not in config:
            raise ValueError(f"{where}: unknown config key '{key}'{suggest_key(key)}")
        if key == "loss_terms":
            with config.unlocked():
                config.loss_terms = {term: tuple(entry) for term, entry in value.items()}
            config.loss_terms.unlock()
        else:
            config[key] = value
    return config


def suggest_key(key, known=None):
    """"; did you mean 'lr'?" with the closest known config key, or ""."""
    known = sorted(known if known is not None else default_config().keys())
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.0)
    return f"; did you mean '{match[0]}'?" if match else ""
