"""Self-describing runs: `<model_dir>/run.json` records what a run was made of.

A run directory holds, next to its checkpoints:

  run.json                 the full config, the body model (spec and content
                           fingerprint), the training data (root, fingerprint,
                           layout) and a history of deliberate changes
  latent_stats_{mean,std}.npy   the latent statistics (also inside every checkpoint)

Resuming and evaluating start from this record. A config that contradicts
it, another body model, or other training data is refused with both values
named, unless the caller allows changes explicitly (fine-tuning); allowed
changes are written to the record's history.
"""
import hashlib
import json
import os
import time

from neural_body_fitting import configs
from neural_body_fitting.body import resolve
from neural_body_fitting.data import layout
from neural_body_fitting.utils import files

RUN_FILE = "run.json"
FORMAT = 1
# How a run is driven rather than what it learns: these may differ between
# the record and a resumed or evaluating command.
OPERATIONAL_KEYS = frozenset({
    "dataset_root", "train_split", "eval_split", "cache_inputs", "skip_bad_samples",
    "max_epochs", "max_steps", "strategy", "xla", "save_freq", "summary_freq",
    "keep_checkpoints", "image_summaries", "validation_freq"})
# What defines the network's outputs: an evaluation must use the run's values.
MODEL_KEYS = frozenset({
    "stage", "segmenter", "num_classes", "input_type", "input_size", "encoder_type", "bn_decay",
    "use_absrot", "use_svd", "latent_components", "num_landmarks", "use_gt_translation",
    "body_model", "latent_stats"})


class RunMismatchError(ValueError):
    """A command contradicts the run's record."""


def record_path(model_dir):
    return os.path.join(model_dir, RUN_FILE)


def read_record(model_dir):
    """The run's record, or None for a directory that has none."""
    path = record_path(model_dir)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as stream:
            record = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable run record ({error})") from error
    if not isinstance(record, dict) or record.get("format") != FORMAT or "config" not in record:
        raise ValueError(f"{path}: not a run record of format {FORMAT}")
    return record


def write_record(model_dir, record):
    files.atomic_write(record_path(model_dir), json.dumps(record, indent=2, sort_keys=True)
                       + "\n")


def dataset_identity(root, split):
    """{'root', 'split', 'fingerprint', 'num_landmarks', 'body_model'} of a split's data.

    The fingerprint hashes `dataset.json` and the split list, so a moved copy
    of the same data matches and any other data does not.
    """
    digest = hashlib.sha256()
    info_path = os.path.join(root, "dataset.json")
    for path in (info_path, layout.list_path(root, split)):
        if os.path.isfile(path):
            with open(path, "rb") as stream:
                digest.update(stream.read())
    info = layout.read_dataset_info(root)
    return {"root": os.path.abspath(root), "split": split, "fingerprint": digest.hexdigest(),
            "num_landmarks": info.get("num_landmarks"), "body_model": info.get("body_model")}


def body_model_identity(model):
    """{'name', 'fingerprint'} of a body model; None for a run that uses none (segmentation)."""
    if model is None:
        return None
    return {"name": model.name, "fingerprint": resolve.fingerprint(model)}


def new_record(config, model, data_identity):
    return {"format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "config": config.to_dict(), "body_model": body_model_identity(model),
            "dataset": data_identity, "history": []}


def config_differences(recorded, config, keys=None):
    """[(key, recorded value, given value)] for keys (default: all but operational) that differ.

    A key the record lacks (the run predates it) counts as its default value.
    """
    given = config.to_dict()
    defaults = configs.default_config().to_dict()
    candidates = keys if keys is not None else (set(recorded) | set(given)) - OPERATIONAL_KEYS
    differences = []
    for key in sorted(candidates):
        old, new = recorded.get(key, defaults.get(key)), given.get(key)
        if _comparable(old) != _comparable(new):
            differences.append((key, old, new))
    return differences


def _comparable(value):
    """JSON round trip: tuples and lists, ConfigDicts and dicts compare equal."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def check_against_record(record, model_dir, config, model, data_identity=None, keys=None,
                         allow_changes=False):
    """Compares a command with the run's record; returns the list of changes (strings).

    Raises RunMismatchError naming each contradiction and both values, unless
    `allow_changes`, in which case the changes are returned for the history.
    """
    where = record_path(model_dir)
    changes = [f"config.{key}: the run has {old!r}, this command {new!r}"
               for key, old, new in config_differences(record["config"], config, keys)]
    body, recorded_body = body_model_identity(model), record["body_model"]
    if body is not None and recorded_body is not None and (
            body["fingerprint"] != recorded_body["fingerprint"]):
        changes.append(f"body model: the run was made with '{recorded_body['name']}', "
                       f"this command uses '{body['name']}' (different arrays)")
    if data_identity is not None and data_identity["fingerprint"] != record["dataset"][
            "fingerprint"]:
        changes.append(f"training data: the run was trained on {record['dataset']['root']} "
                       f"(split '{record['dataset']['split']}'), this command points at "
                       f"{data_identity['root']}, whose dataset.json or list differs")
    if changes and not allow_changes:
        raise RunMismatchError(
            f"{where}: this command contradicts the run's record:\n  " + "\n  ".join(changes)
            + "\nUse the run's settings, or allow the changes explicitly (--allow_run_changes) "
            "to fine-tune from this run.")
    return changes


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
            f"expects {num_landmarks} (config.num_landmarks)")


def check_run_for_model(model_dir, config, body_model, allow_changes=False):
    """Checks that `config` builds the network trained in `model_dir` (its MODEL_KEYS).

    Raises FileNotFoundError when `model_dir` holds no run record, and
    RunMismatchError as `check_against_record` does.
    """
    record = read_record(model_dir)
    if record is None:
        raise FileNotFoundError(f"{record_path(model_dir)}: not a training run (no run "
                                "record); train first")
    return check_against_record(record, model_dir, config, body_model, keys=MODEL_KEYS,
                                allow_changes=allow_changes)
