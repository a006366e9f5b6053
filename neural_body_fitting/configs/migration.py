"""Configs of 0.2 (one flat dict of ~47 keys) read as today's nested config.

Runs recorded by 0.2 hold their config flat in `run.json`
(`{"lr": 4e-05, "dataset_root": ..., "loss_terms": {...}}`); `FLAT_KEYS`
says where each of those keys lives now, and `nest_flat_config` moves
them there, so such a run resumes, evaluates and serves unchanged.
"""
GROUPS = ("data", "model", "loss", "optim", "runtime")

# 0.2's flat key -> its dotted name in the nested config.
FLAT_KEYS = {
    "stage": "stage",
    "input_type": "data.input_type",
    "input_size": "data.input_size",
    "num_landmarks": "data.num_landmarks",
    "augment_flip_probability": "data.augment.flip_probability",
    "augment_scale_range": "data.augment.scale_range",
    "augment_max_rotation": "data.augment.max_rotation",
    "body_model": "model.body_model",
    "bn_decay": "model.bn_decay",
    "encoder_type": "model.fitting.encoder_type",
    "use_absrot": "model.fitting.use_absrot",
    "use_svd": "model.fitting.use_svd",
    "latent_components": "model.fitting.latent_components",
    "use_gt_translation": "model.fitting.use_gt_translation",
    "latent_stats": "model.fitting.latent_stats",
    "segmenter": "model.segmenter.network",
    "num_classes": "model.segmenter.num_classes",
    "loss_terms": "loss.terms",
    "weight_decay": "loss.weight_decay",
    **{key: f"optim.{key}" for key in ("lr", "lr_policy", "lr_power", "lr_step_size",
                                        "lr_gamma", "beta1", "batch_size", "seed",
                                        "mixed_precision")},
    **{key: f"runtime.{key}" for key in (
        "dataset_root", "train_split", "eval_split", "cache_inputs", "skip_bad_samples",
        "max_epochs", "max_steps", "strategy", "xla", "save_freq", "summary_freq",
        "keep_checkpoints", "validation_freq", "image_summaries")},
}

# Keys that 0.2 did not have: a 0.2 run gets their defaults.
NEW_SINCE_0_2 = ("runtime.compile_body_model", "data.keypoint_corruption.jitter",
                 "data.keypoint_corruption.swap_rate", "data.keypoint_corruption.drop_rate")

# Words users write for a key, suggested as the key (`utils.registry.did_you_mean`).
SYNONYMS = {
    "learning_rate": "optim.lr",
    "optim.learning_rate": "optim.lr",
    "encoder": "model.fitting.encoder_type",
    "segmenter_network": "model.segmenter.network",
    "steps": "runtime.max_steps",
    "epochs": "runtime.max_epochs",
    "data.root": "runtime.dataset_root",
}


def is_flat(values):
    """True for a config dict in 0.2's flat form (no group, some of its keys)."""
    return not any(key in GROUPS for key in values) and any(key in FLAT_KEYS for key in values)


def nest_flat_config(values):
    """A nested config dict from 0.2's flat one; a nested one is returned as it is.

    Keys that 0.2 did not have are left where they are, so the caller's
    check names them.
    """
    if not is_flat(values):
        return values
    nested = {}
    for key, value in values.items():
        *groups, leaf = FLAT_KEYS.get(key, key).split(".")
        place = nested
        for group in groups:
            place = place.setdefault(group, {})
        place[leaf] = value
    return nested


def flatten(values, prefix=""):
    """{'optim.lr': 4e-5, 'loss.terms': {...}, ...} of a nested dict (loss terms are one leaf)."""
    flat = {}
    for key, value in values.items():
        name = prefix + key
        if isinstance(value, dict) and name != "loss.terms":
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
