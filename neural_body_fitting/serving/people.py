"""Where the people are: person boxes from keypoint files and box lists.

Accepted sources (each gives every image its list of people):

  OpenPose JSON     one file per image, `<stem>_keypoints.json` or `<stem>.json`,
                    {"people": [{"pose_keypoints_2d": [x, y, c, ...]}]} with
                    BODY_25 (75 values) or COCO-18 (54 values) keypoints
  COCO annotations  one file {"images": [{"id", "file_name"}], "annotations":
                    [{"image_id", "keypoints": [x, y, v] * 17}]} (v > 0: labelled)
  boxes JSON        {"<image file>": [[x0, y0, x1, y1], ...]}
  boxes CSV         a header with image,x0,y0,x1,y1 and one row per person

An OpenPose person's box is that of its confident keypoints and of its head top,
estimated from the face points (`keypoints.head_top`): the paper's person height runs
to the head top, which neither OpenPose layout has. Such a person also carries its
14 landmarks (`keypoints.landmarks14`). A person whose keypoints are too few or too
uncertain keeps its error message instead of a box, so the caller can report it and
carry on.
"""
import csv
import dataclasses
import glob
import json
import os

import numpy as np

from neural_body_fitting.serving import crops, keypoints

OPENPOSE_SUFFIX = "_keypoints"
_BOX_COLUMNS = ("image", "x0", "y0", "x1", "y1")


@dataclasses.dataclass(frozen=True)
class Person:
    """One person of an image: a box (x0, y0, x1, y1) or why there is none, and the 14
    landmarks [14, 3] (x, y, confidence) when keypoints in a known layout gave it."""

    box: tuple = None
    error: str = None
    landmarks14: np.ndarray = None


def image_key(path):
    """How people files name an image: its file name without folder and extension."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem.removesuffix(OPENPOSE_SUFFIX)


def person_from_keypoints(points, source, min_confidence, names=None):
    """The Person of keypoints [K, 3]; with their layout `names`, the head top joins the
    box and the 14 landmarks are kept. `source` names them in the error message."""
    try:
        points, landmarks = np.asarray(points, np.float64).reshape(-1, 3), None
        if names is not None:
            landmarks = keypoints.landmarks14(points, names, min_confidence)
            points = np.concatenate([points, landmarks[-1:]])  # The head top.
        return Person(box=crops.box_of_keypoints(points, min_confidence), landmarks14=landmarks)
    except ValueError as error:
        return Person(error=f"{source}: {error}")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable JSON file ({error})") from error


def _openpose_people(path, content, min_confidence):
    if not isinstance(content["people"], list):
        raise ValueError(f"{path}: 'people' must be a list of people, got "
                         f"{type(content['people']).__name__}")
    people = []
    for index, entry in enumerate(content["people"]):
        values = entry.get("pose_keypoints_2d") if isinstance(entry, dict) else None
        source = f"{path}, person {index}"
        if not isinstance(values, list) or len(values) not in keypoints.OPENPOSE_LAYOUTS:
            people.append(Person(error=f"{source}: 'pose_keypoints_2d' must hold BODY_25 (75) "
                                 "or COCO-18 (54) values"))
        else:
            people.append(person_from_keypoints(values, source, min_confidence,
                                                keypoints.OPENPOSE_LAYOUTS[len(values)]))
    return people


def _coco_people(path, content):
    names = {image["id"]: image["file_name"] for image in content.get("images", [])}
    people = {image_key(name): [] for name in names.values()}
    for index, annotation in enumerate(content.get("annotations", [])):
        name = names.get(annotation.get("image_id"))
        if name is None:
            raise ValueError(f"{path}: annotation {index} names image_id "
                             f"{annotation.get('image_id')!r}, which 'images' does not list")
        keypoints = np.reshape(np.asarray(annotation.get("keypoints", []), np.float64), (-1, 3))
        labelled = np.concatenate([keypoints[:, :2], (keypoints[:, 2:] > 0)], axis=1)
        people[image_key(name)].append(
            person_from_keypoints(labelled, f"{path}, annotation {index}", 0.5))
    return people


def _box_people(path, rows):
    people = {}
    for source, name, box in rows:
        try:
            box = tuple(float(v) for v in box)
            if len(box) != 4:
                raise ValueError(f"a box has 4 numbers x0, y0, x1, y1, got {len(box)}")
            crops.transform_for_box(box)
            person = Person(box=box)
        except (TypeError, ValueError) as error:
            person = Person(error=f"{path}, {source}: {error}")
        people.setdefault(image_key(name), []).append(person)
    return people


def _csv_rows(path):
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = set(_BOX_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: a boxes CSV needs the columns {','.join(_BOX_COLUMNS)}; "
                             f"missing {sorted(missing)}")
        return [(f"row {index + 2}", row["image"], [row[k] for k in _BOX_COLUMNS[1:]])
                for index, row in enumerate(reader)]


def _openpose_file_people(path, min_confidence):
    """{key: [Person]} of one file of an OpenPose folder; for a file in no known format,
    its image's one person carries the error, so the other images go on."""
    try:
        return read_people(path, min_confidence)
    except ValueError as error:
        return {image_key(path): [Person(error=str(error))]}


def read_people(path, min_confidence=0.1):
    """{image key (see `image_key`): [Person]} from a keypoints or boxes file or folder.

    A folder is read as OpenPose output (all its .json files, one per image): a damaged
    file there fails its image's people only.
    Raises ValueError naming the file for content in none of the formats.
    """
    if os.path.isdir(path):
        people = {}
        for name in sorted(glob.glob(os.path.join(path, "*.json"))):
            people.update(_openpose_file_people(name, min_confidence))
        return people
    if path.lower().endswith(".csv"):
        return _box_people(path, _csv_rows(path))
    content = _read_json(path)
    if isinstance(content, dict) and "people" in content:
        return {image_key(path): _openpose_people(path, content, min_confidence)}
    if isinstance(content, dict) and "annotations" in content:
        return _coco_people(path, content)
    if isinstance(content, dict) and all(isinstance(v, list) for v in content.values()):
        return _box_people(path, [(f"image '{name}', box {k}", name, box)
                                  for name, boxes in content.items()
                                  for k, box in enumerate(boxes)])
    raise ValueError(f"{path}: neither OpenPose keypoints ('people'), COCO annotations "
                     "('annotations') nor a boxes dict {image: [[x0, y0, x1, y1]]}")
