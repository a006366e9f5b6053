"""The on-disk dataset layout of the original NBF code, plus two files of ours.

```
<root>/images/<id>_image.png          512x512 RGB crop
<root>/colours/<id>_colours.png       12-part colour-coded map (any size; ours 224)
<root>/labels/<id>_labels.png         ours: 24-part label map (0 background, SMPL part + 1)
<root>/smplparams/<id>_smplparams.bin 85 float64: betas 10, axis-angle pose 72, translation 3
<root>/joints/<id>_joints.bin         float64: 24x3 rest joints, Lx3 posed joints,
                                      Lx2 2D joints (224)
<root>/lists/{train,val,test}_latent.txt   "<id> <latent_flag>" per line
<root>/colours_parts<k>/<id>_colours.png  ours, optional: colour maps of other granularities
<root>/dataset.json                   ours: body model, granularities, camera, counts, seed,
                                      "complete": false while being generated
<root>/generation_finished.txt        ours, while being generated: ids of finished samples
```

Everything is written to a temporary name and renamed; every read error
names the file. A generator writes dataset.json with "complete": false
before anything else and the lists and the final dataset.json last, so an
interrupted generation is visibly incomplete (`check_complete`) instead of
mixing new samples with old lists.
"""
import glob
import json
import os

import numpy as np

from neural_body_fitting import constants
from neural_body_fitting.body import parameter_records
from neural_body_fitting.utils import files, images

SPLITS = ("train", "val", "test")
_KINDS = {
    "image": ("images", "_image.png"),
    "colours": ("colours", "_colours.png"),
    "labels": ("labels", "_labels.png"),
    "smplparams": ("smplparams", "_smplparams.bin"),
    "joints": ("joints", "_joints.bin"),
}


def sample_paths(root, sample_id):
    """{'image', 'colours', 'labels', 'smplparams', 'joints'} -> path of that file."""
    return {kind: os.path.join(root, folder, f"{sample_id}{suffix}")
            for kind, (folder, suffix) in _KINDS.items()}


def colour_map_path(root, sample_id, granularity):
    """Path of a colour map: `colours/` for the 12 parts, `colours_parts<k>/` otherwise."""
    if granularity == 12:
        return sample_paths(root, sample_id)["colours"]
    return os.path.join(root, f"colours_parts{granularity}", f"{sample_id}_colours.png")


def write_sample(root, sample_id, *, smplparams, rest_joints, posed_joints, projected_joints,
                 image=None, colours=None, labels=None):
    """Writes one sample's files (images optional) in the layout above."""
    paths = sample_paths(root, sample_id)
    smplparams = np.asarray(smplparams, np.float64).reshape(-1)
    count = parameter_records.NUM_SMPL_PARAMS
    if smplparams.shape != (count,) or not np.all(np.isfinite(smplparams)):
        raise ValueError(f"{paths['smplparams']}: need {count} finite values")
    joints = [np.asarray(a, np.float64) for a in (rest_joints, posed_joints, projected_joints)]
    if joints[0].shape != (24, 3) or joints[1].shape[1:] != (3,) or joints[2].shape != (
            joints[1].shape[0], 2):
        raise ValueError(f"{paths['joints']}: need rest [24, 3], posed [L, 3] and projected "
                         f"[L, 2], got {[list(j.shape) for j in joints]}")
    for kind, value in (("image", image), ("colours", colours), ("labels", labels)):
        if value is not None:
            images.write_png(paths[kind], value)
    files.atomic_write(paths["smplparams"], smplparams.astype("<f8").tobytes())
    files.atomic_write(paths["joints"], np.concatenate([j.reshape(-1) for j in joints])
                  .astype("<f8").tobytes())
    return paths


def _read_floats(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file does not exist")
    with open(path, "rb") as stream:
        raw = stream.read()
    if len(raw) % 8:
        raise ValueError(f"{path}: length {len(raw)} bytes is not a whole number of float64")
    values = np.frombuffer(raw, "<f8")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: contains NaN or infinite values")
    return values


def read_smplparams(path):
    """[85] float64: betas 10, axis-angle pose 72, translation 3."""
    values = _read_floats(path)
    if values.shape != (parameter_records.NUM_SMPL_PARAMS,):
        raise ValueError(f"{path}: expected {parameter_records.NUM_SMPL_PARAMS} float64 values, "
                         f"got {len(values)}")
    return values


def num_landmarks_of(num_values):
    """L from the length of a joints file (72 + 5 L values), or None if impossible."""
    remainder = num_values - 3 * constants.NUM_JOINTS
    return remainder // 5 if remainder > 0 and remainder % 5 == 0 else None


def read_joints(path):
    """(rest [24, 3], posed [L, 3], projected [L, 2]) float64."""
    values = _read_floats(path)
    count = num_landmarks_of(len(values))
    if count is None:
        raise ValueError(f"{path}: {len(values)} float64 values is not 72 + 5 L")
    rest = values[:72].reshape(24, 3)
    posed = values[72:72 + 3 * count].reshape(count, 3)
    return rest, posed, values[72 + 3 * count:].reshape(count, 2)


def list_path(root, split):
    return os.path.join(root, "lists", f"{split}_latent.txt")


def write_split_list(root, split, entries):
    """Writes `lists/<split>_latent.txt` from (id, latent_flag) pairs."""
    text = "".join(f"{sample_id} {int(flag)}\n" for sample_id, flag in entries)
    files.atomic_write(list_path(root, split), text.encode())


def read_split_list(root, split):
    """[(id, latent_flag)] of a split; errors name the list file and line.

    A leading UTF-8 byte order mark (Windows editors write one) is dropped.
    Refused: duplicate ids (the sample would count twice), and ids with a path
    separator or an invisible character (ids become file names; a BOM inside
    a concatenated list would make a name that looks right but does not exist).
    """
    path = list_path(root, split)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: split list does not exist")
    entries, first_line = [], {}
    with open(path, encoding="utf-8-sig") as stream:
        for number, line in enumerate(stream, 1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1"):
                raise ValueError(f"{path}:{number}: expected '<id> <0|1>' (ids cannot contain "
                                 f"whitespace), got {line.strip()!r}")
            sample_id = fields[0]
            if "/" in sample_id or "\\" in sample_id:
                raise ValueError(f"{path}:{number}: id {sample_id!r} contains a path separator")
            if not sample_id.isprintable():
                raise ValueError(f"{path}:{number}: id {sample_id!r} contains an invisible "
                                 "or control character")
            if sample_id in first_line:
                raise ValueError(f"{path}:{number}: duplicate id {sample_id!r} (first on line "
                                 f"{first_line[sample_id]})")
            first_line[sample_id] = number
            entries.append((sample_id, int(fields[1])))
    return entries


def write_dataset_info(root, info):
    files.atomic_write(os.path.join(root, "dataset.json"), json.dumps(info, indent=2).encode())


def read_dataset_info(root):
    """The dataset.json dict, or {} for data prepared by the original code."""
    path = os.path.join(root, "dataset.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as stream:
        try:
            return json.load(stream)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error


def is_incomplete(root):
    """True if `root` holds a generation that has not finished."""
    return read_dataset_info(root).get("complete") is False


def check_complete(root):
    """Raises ValueError, naming dataset.json, if `root`'s generation did not finish.

    Datasets without dataset.json (the original code's) or without the
    "complete" key (older ones) count as complete.
    """
    if is_incomplete(root):
        raise ValueError(
            f"{os.path.join(root, 'dataset.json')}: the dataset is incomplete "
            "(\"complete\": false): its generation was interrupted. Rerun the command that "
            "generated it with the same settings (recorded in that file) to resume it; "
            "nbf-make-data keeps the samples already finished")


def remove_split_lists(root):
    for split in SPLITS:
        _remove_if_present(list_path(root, split))


def finished_path(root):
    return os.path.join(root, "generation_finished.txt")


def start_generation(root, info):
    """Marks `root` as being generated (dataset.json with "complete": false).

    The order matters for a kill at any point: the old manifest of finished
    samples goes first (a new marker beside an old manifest would make a
    resume skip samples of the old generation), then the marker replaces the
    old dataset.json, and only then the old lists go, so a dataset is never
    both marked complete and missing lists.
    """
    _remove_if_present(finished_path(root))
    write_dataset_info(root, {**info, "complete": False})
    remove_split_lists(root)


def record_finished(root, sample_id):
    """Appends a sample id to the manifest once all of its files are written.

    Not an atomic rename like every other write: workers append concurrently.
    One O_APPEND write() of a short line is not interleaved with others, and
    a line cut short by a kill has no newline, so `read_finished` drops it.
    """
    handle = os.open(finished_path(root), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(handle, f"{sample_id}\n".encode())
    finally:
        os.close(handle)


def read_finished(root):
    """The set of sample ids in the manifest of finished samples (empty if none)."""
    path = finished_path(root)
    if not os.path.isfile(path):
        return set()
    with open(path) as stream:
        return {line[:-1] for line in stream if line.endswith("\n")}


def finish_generation(root, info):
    """Writes the final dataset.json ("complete": true), after the lists; returns it."""
    info = {**info, "complete": True}
    write_dataset_info(root, info)
    _remove_if_present(finished_path(root))
    return info


def remove_temporary_files(root):
    """Removes temporaries that a killed writer left in the dataset's folders.

    Only safe while nothing else writes to `root` (the killed writer's
    workers die with it).
    """
    for pattern in (".tmp_*", os.path.join("*", ".tmp_*")):  # The layout is one level deep.
        for path in glob.glob(os.path.join(root, pattern)):
            _remove_if_present(path)


def _remove_if_present(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
