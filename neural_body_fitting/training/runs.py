"""Self-describing runs: `<model_dir>/run.json` records what a run was made of.

A run directory holds, next to its checkpoints:

  run.json                 the full config, the body model (spec and content
                           fingerprint), the training data (root, fingerprint,
                           layout) and a history of deliberate changes
  latent_stats_{mean,std}.npy   the latent statistics (also inside every checkpoint)

Resuming and evaluating start from this record. A config that contradicts
it, another body model, or other training data is refused with both values
named, unless the caller allows changes explicitly (fine-tuning); allowed
changes are written to the record's history. Checkpoints without a record
(a run older than records, or one whose record was deleted) are resumed only
when changes are allowed, the record then saying what was assumed.
"""
import dataclasses
import glob
import hashlib
import json
import os
import time

from neural_body_fitting import configs, registries
from neural_body_fitting.body import resolve
from neural_body_fitting.configs import migration
from neural_body_fitting.data import layout
from neural_body_fitting.utils import files

RUN_FILE = "run.json"
# 2: the nested config (0.3); 1: 0.2's flat config, migrated when read.
FORMAT = 2


class RunMismatchError(ValueError):
    """A command contradicts the run's record."""


def record_path(model_dir):
    return os.path.join(model_dir, RUN_FILE)


def read_record(model_dir):
    """The run's record (format 2; a 0.2 record migrated), or None for a directory without one."""
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise NotADirectoryError(f"{model_dir}: a file, not a run directory")
    path = record_path(model_dir)
    if not os.path.isfile(path):
        return None
    record = files.read_json_object(path, "run record")
    if record.get("format") not in (1, FORMAT) or not isinstance(record.get("config"), dict):
        raise ValueError(f"{path}: not a run record of format {FORMAT} (or 1)")
    _check_record_types(record, path)
    if record["format"] == 1:
        record = {**record, "format": FORMAT, "migrated_from_format": 1,
                  "config": migration.nest_flat_config(record["config"]),
                  "history": [{**entry, "config": migration.nest_flat_config(entry["config"])}
                              for entry in record.get("history", [])]}
    return record


# What each part of a record holds, in JSON's words: a hand edit that changes a type is
# named here, not met later as a KeyError or TypeError.
_RECORD_TYPES = {"history": ((list,), "a list"), "dataset": ((dict,), "an object"),
                 "body_model": ((dict, type(None)), "an object or null")}


def _check_record_types(record, path):
    for key, (types, expected) in _RECORD_TYPES.items():
        if key in record and not isinstance(record[key], types):
            raise ValueError(f"{path}: '{key}' must be {expected}, got "
                             f"{json.dumps(record[key])[:40]}")


def load_run_config(model_dir, stage=None):
    """The config a run was trained with (from its record), checked to be of `stage`.

    Raises FileNotFoundError for a directory without a record, and
    ValueError, naming the record, for a run of another stage than `stage`
    (None accepts either) or a record whose config the library cannot read.
    """
    record = read_record(model_dir)
    path = record_path(model_dir)
    if record is None:
        raise FileNotFoundError(f"{path}: not a training run (no run record); train first")
    config = configs.base.config_from_dict(record["config"], path)
    if stage is not None and config.stage != stage:
        raise ValueError(f"{path}: a {config.stage} run, not a {stage} run")
    return config


def write_record(model_dir, record):
    files.atomic_write(record_path(model_dir), json.dumps(record, indent=2, sort_keys=True)
                       + "\n")


# Bytes hashed at each end of a sample's image files (`content_fingerprint`).
_CONTENT_BLOCK = 4096


def content_fingerprint(root, split):
    """A hash of the split's sample files: their names and sizes, the whole of the
    small parameter and joint files, and the first and last 4 KiB of each image.

    Cheap enough to take at every resume (a 1500-sample split: 0.3 s with the
    files in the page cache, 1 s without, on two cores),
    and it changes when a copy of the data holds a damaged or replaced file.
    """
    digest = hashlib.sha256()
    try:
        entries = layout.read_split_list(root, split)
    except (OSError, ValueError):
        return None  # The split's own check reports it.
    for sample_id, _ in entries:
        for kind, path in sorted(layout.sample_paths(root, sample_id).items()):
            if not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            digest.update(f"{sample_id}/{kind}:{size};".encode())
            with open(path, "rb") as stream:
                if path.endswith(".bin") or size <= 2 * _CONTENT_BLOCK:
                    digest.update(stream.read())
                else:
                    digest.update(stream.read(_CONTENT_BLOCK))
                    stream.seek(-_CONTENT_BLOCK, os.SEEK_END)
                    digest.update(stream.read())
    return digest.hexdigest()


def dataset_identity(root, split, content=False):
    """{'root', 'split', 'fingerprint', 'num_landmarks', 'body_model'} of a split's data,
    with `content` also 'content'.

    The fingerprint hashes `dataset.json` and the split list, so a moved copy
    of the same data matches and any other data does not; 'content' is
    `content_fingerprint` (it reads every sample file, so only a run's record
    takes it), so a copy whose files were damaged does not either.
    """
    digest = hashlib.sha256()
    info_path = os.path.join(root, "dataset.json")
    for path in (info_path, layout.list_path(root, split)):
        if os.path.isfile(path):
            with open(path, "rb") as stream:
                digest.update(stream.read())
    info = layout.read_dataset_info(root)
    identity = {"root": os.path.abspath(root), "split": split, "fingerprint": digest.hexdigest(),
                "num_landmarks": info.get("num_landmarks"), "body_model": info.get("body_model")}
    if content:
        identity["content"] = content_fingerprint(root, split)
    return identity


def dataset_name(root):
    """How a run's evaluation results name a dataset: its folder's name."""
    return os.path.basename(os.path.normpath(os.path.abspath(root)))


def evaluation_path(model_dir, split, dataset, baseline=False, variant=""):
    """The path prefix `<model_dir>/eval_<split>_<dataset>[_baseline][_<variant>]` of an
    evaluation's files: named by dataset too, so evaluating a run on another dataset keeps
    the first's; `variant` names changed inputs (`KeypointCorruption.tag`)."""
    name = f"eval_{split}_{dataset}" + ("_baseline" if baseline else "")
    return os.path.join(model_dir, name + (f"_{variant}" if variant else ""))


def body_model_identity(model):
    """{'name', 'fingerprint'} of a body model; None for a run that uses none (segmentation)."""
    if model is None:
        return None
    return {"name": model.name, "fingerprint": resolve.fingerprint(model)}


def new_record(config, model, data_identity):
    return {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "config": config.to_dict(), "body_model": body_model_identity(model),
            "dataset": data_identity, "history": []}


def defines_network(key):
    """True for a dotted config key that shapes the trained network's outputs.

    Evaluating and serving must use the run's values of these: the stage,
    the network's input (`data.*`, except the training-time augmentation and
    keypoint corruption)
    and the networks (`model.*`).
    """
    return (key == "stage" or key.startswith("model.")
            or (key.startswith("data.") and not key.startswith(
                ("data.augment.", "data.keypoint_corruption."))))


def defines_run(key):
    """True for a dotted config key outside the operational groups (`configs.base.
    OPERATIONAL_GROUPS`): a command that resumes or evaluates a run must agree on it."""
    return key.split(".")[0] not in configs.base.OPERATIONAL_GROUPS


def config_differences(recorded, config, selected=None):
    """[(dotted key, recorded value, given value)] for the keys that differ.

    Compares the keys that `defines_run`, or those for which `selected(key)` is true. A
    key the record lacks (the run predates it) counts as its default value.
    """
    return record_differences(migration.flatten(recorded), migration.flatten(config.to_dict()),
                              migration.flatten(configs.default_config().to_dict()),
                              selected or defines_run)


def record_differences(recorded, given, defaults=None, selected=None):
    """[(key, recorded value, given value)] where two flat records differ, sorted by key.

    A key the record lacks counts as its value in `defaults` (a record
    written before the key existed); only keys for which `selected(key)`
    is true are compared (default: all).
    """
    defaults = defaults or {}
    differences = []
    for key in sorted(k for k in set(recorded) | set(given) if selected is None or selected(k)):
        old, new = recorded.get(key, defaults.get(key)), given.get(key)
        if _comparable(old) != _comparable(new):
            differences.append((key, old, new))
    return differences


def _comparable(value):
    """JSON round trip: tuples and lists, ConfigDicts and dicts compare equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def record_digest(record):
    """A hash of what a run record says defines the run: its config without the
    operational groups, its body model and its data's fingerprints (not where the
    data lies). Each checkpoint stores the digest of the record it was trained for
    (`CHECKPOINT_DIGEST_KEY`), so an edited run.json cannot pass for its run."""
    config = {key: value for key, value in record["config"].items()
              if key not in configs.base.OPERATIONAL_GROUPS}
    dataset = record.get("dataset") or {}
    material = {"config": config, "body_model": record.get("body_model"),
                "dataset": {key: dataset.get(key) for key in ("split", "fingerprint", "content")}}
    return hashlib.sha256(json.dumps(_comparable(material), sort_keys=True).encode()).hexdigest()


# The checkpoint entry of `record_digest` (a tf.train.Checkpoint attribute `run_record`).
CHECKPOINT_DIGEST_KEY = "run_record/.ATTRIBUTES/VARIABLE_VALUE"


def check_checkpoint_record(model_dir, record):
    """[] when the latest checkpoint was trained for `record` (or predates digests), else
    the contradiction as a change string."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(model_dir)
    if latest is None:
        return []
    try:
        reader = tf.train.load_checkpoint(latest)
    except (tf.errors.OpError, ValueError):
        return []  # Restoring names the unreadable checkpoint.
    if not reader.has_tensor(CHECKPOINT_DIGEST_KEY):
        return []
    stored = reader.get_tensor(CHECKPOINT_DIGEST_KEY)
    stored = stored.decode() if isinstance(stored, bytes) else str(stored)
    if stored in ("", record_digest(record)):
        return []
    return [f"{record_path(model_dir)}: its config, body model or data are not those the "
            f"latest checkpoint ({os.path.basename(latest)}) was trained for: the file was "
            "edited, or the checkpoints come from another run"]


def check_against_record(record, model_dir, config, model, data_identity=None, selected=None,
                         allow_changes=False):
    """Compares a command with the run's record; returns the list of changes (strings).

    Raises RunMismatchError naming each contradiction and both values, unless
    `allow_changes`, in which case the changes are returned for the history.
    """
    where = record_path(model_dir)
    changes = [f"config.{key}: the run has {old!r}, this command {new!r}"
               for key, old, new in config_differences(record["config"], config, selected)]
    body, recorded_body = body_model_identity(model), record["body_model"]
    if body is not None and recorded_body is not None and (
            body["fingerprint"] != recorded_body["fingerprint"]):
        changes.append(f"body model: the run was made with '{recorded_body['name']}', "
                       f"this command uses '{body['name']}' (different arrays)")
    recorded_data = record["dataset"]
    if data_identity is not None and data_identity["fingerprint"] != recorded_data[
            "fingerprint"]:
        changes.append(f"training data: the run was trained on {recorded_data['root']} "
                       f"(split '{recorded_data['split']}'), this command points at "
                       f"{data_identity['root']}, whose dataset.json or list differs")
    elif data_identity is not None and None not in (
            recorded_data.get("content"), data_identity.get("content")) and (
            recorded_data["content"] != data_identity["content"]):  # Pre-0.3 records: none.
        changes.append(f"training data: the files of split '{recorded_data['split']}' in "
                       f"{data_identity['root']} differ from those the run was trained on "
                       f"({recorded_data['root']}): damaged, replaced or regenerated samples")
    changes += check_checkpoint_record(model_dir, record)
    if changes and not allow_changes:
        raise RunMismatchError(
            f"{where}: this command contradicts the run's record:\n  " + "\n  ".join(changes)
            + "\nUse the run's settings, or allow the changes explicitly (--allow_run_changes) "
            "to fine-tune from this run.")
    return changes


# The history entry of a run resumed from checkpoints that had no record.
ASSUMED_FOR_UNRECORDED = ("no run record: the checkpoints were assumed to have been trained "
                          "with this command's config, body model and training data, and the "
                          "latent statistics were recomputed from that data")


def check_unrecorded_checkpoints(model_dir, allow_changes=False):
    """The changes of resuming `model_dir` without a record: [] where it holds no checkpoints.

    Raises RunMismatchError for checkpoints without a record, whose config,
    body model and data are unknown, unless `allow_changes`.
    """
    found = sorted(os.path.basename(path).removesuffix(".index") for path in glob.glob(
        os.path.join(glob.escape(model_dir), "*.index")))
    if not found:
        return []
    if not allow_changes:
        raise RunMismatchError(
            f"{model_dir}: holds checkpoints ({', '.join(found)}) but no run record "
            f"({RUN_FILE}), so what they were trained with (config, body model, data, latent "
            "statistics) cannot be checked and resuming could continue them on something "
            "else. Train in a new --model_dir, or pass --allow_run_changes to resume them "
            "with this command's settings (the new record says so)")
    return [ASSUMED_FOR_UNRECORDED]


def check_data_matches_model(data_identity, model, num_landmarks):
    """RunMismatchError if a dataset was made with another body model or landmark count."""
    recorded = data_identity.get("body_model")
    root = data_identity["root"]
    if recorded and recorded != model.name:
        raise RunMismatchError(
            f"{os.path.join(root, 'dataset.json')}: the data was made with body model "
            f"'{recorded}', the run uses '{model.name}'")
    count = data_identity.get("num_landmarks")
    if count is not None and count != num_landmarks:
        raise RunMismatchError(
            f"{os.path.join(root, 'dataset.json')}: the data has {count} landmarks, the config "
            f"expects {num_landmarks} (config.data.num_landmarks)")


def check_run_for_model(model_dir, config, body_model, allow_changes=False):
    """Checks that `config` builds the network trained in `model_dir` (`defines_network`).

    Raises FileNotFoundError when `model_dir` holds no run record, and
    RunMismatchError as `check_against_record` does.
    """
    record = read_record(model_dir)
    if record is None:
        raise FileNotFoundError(f"{record_path(model_dir)}: not a training run (no run "
                                "record); train first")
    return check_against_record(record, model_dir, config, body_model, selected=defines_network,
                                allow_changes=allow_changes)


@dataclasses.dataclass
class Run:
    """A training run's inputs, read and checked once by `prepare_run`.

    Attributes:
      config: the validated config.
      model_dir: the run directory.
      record: the run's record: the existing one, or None for a new run.
      changes: the differences from the record that the command allowed.
      body_model: the body model (None for a segmentation run).
      data_identity: `dataset_identity` of the training split.
      split: the loaded training split (`data.Split`, `data.segmentation.SegmentationSplit`).
      statistics: a fitting run's latent statistics (mean [229], std [229])
        float64, else None.
      new_statistics: True if `statistics` were computed or read now, to be
        kept with the run; False if they are the run's own.
    """

    config: object
    model_dir: str
    record: dict
    changes: list
    body_model: object
    data_identity: dict
    split: object
    statistics: tuple = None
    new_statistics: bool = False


def prepare_run(config, model_dir, allow_changes=False):
    """Validates `config` and reads the run in `model_dir` (new or existing), writing nothing.

    The stage's task (`registries.TASKS`) resolves the body model, loads
    the training split (skipping bad samples with
    `config.runtime.skip_bad_samples`) and gives the latent statistics.
    Raises RunMismatchError where the command contradicts the run's record,
    or where checkpoints have no record (`check_unrecorded_checkpoints`), unless
    `allow_changes`.
    """
    config = configs.validate(config)
    task = registries.TASKS.get(config.stage, "config.stage")
    body_model = task.resolve_body_model(config)
    identity = dataset_identity(config.runtime.dataset_root, config.runtime.train_split,
                                content=True)
    if body_model is not None:
        check_data_matches_model(identity, body_model, config.data.num_landmarks)
    record = read_record(model_dir)
    changes = check_unrecorded_checkpoints(model_dir, allow_changes) if record is None else (
        check_against_record(record, model_dir, config, body_model, identity,
                             allow_changes=allow_changes))
    split = task.load_split(config)
    statistics, new_statistics = task.run_statistics(config, split, model_dir, record, changes)
    return Run(config, model_dir, record, changes, body_model, identity, split, statistics,
               new_statistics)
