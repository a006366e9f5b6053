"""People found by the BlazePose detector (`detection.Detector`) as nbf-infer's people.

Each image's detections are written as OpenPose JSON, `<keypoints_dir>/<stem>_keypoints.json`
with BODY_25 keypoints (confidence: BlazePose's visibility), so that other tools can
read them and `nbf-infer --keypoints=<keypoints_dir>` gives the same crops. Only the
points the crop is made from are filled: the 12 joints of the 14 landmarks, the nose,
eyes and ears (the head top is estimated from them), and `neck` and `mid_hip` as
midpoints; the toes and heels are left at zero, so that the person's height is the 14
landmarks' (ankles to head top), as in the paper. A person is then read as any OpenPose
person (`people.person_from_keypoints`): its box runs over these points and the head top.

Per image and person, for the user:
  no person found        a note; the rest of the folder goes on
  cut by the border      a note naming the landmarks outside the image (the model
                         places them anyway, with low visibility); the crop is made
                         from the confident ones, as for any keypoints
  under MIN_HEIGHT px    an error: too small to crop and fit
"""
import json
import os

import numpy as np

from neural_body_fitting import constants
from neural_body_fitting.detection.landmarks import LANDMARK_NAMES
from neural_body_fitting.serving import inputs, keypoints, people
from neural_body_fitting.utils import files, images

MIN_HEIGHT = 40  # Pixels of the original image; smaller people give no usable crop.
CROP_NAMES = constants.LANDMARK14_NAMES[:12] + ("nose",) + keypoints.FACE_NAMES
_OPENPOSE_VERSION = 1.3


def body25(landmarks33):
    """BODY_25 keypoints [25, 3] (x, y, visibility) of BlazePose landmarks [33, 5], with
    the points of `CROP_NAMES` only (module docstring)."""
    points = np.asarray(landmarks33, np.float64)[:, [0, 1, 3]]
    chosen = [LANDMARK_NAMES.index(name) for name in CROP_NAMES]
    return keypoints.to_layout(points[chosen], CROP_NAMES, keypoints.BODY25_NAMES)


def openpose_json(people_keypoints):
    """OpenPose's JSON text of one image's people, each BODY_25 keypoints [25, 3]."""
    return json.dumps({"version": _OPENPOSE_VERSION, "people": [
        {"person_id": [-1], "pose_keypoints_2d": np.asarray(points, np.float64).ravel().tolist()}
        for points in people_keypoints]})


def outside_image(points, height, width):
    """Names of the 14 landmarks that BODY_25 keypoints [25, 3] place outside an image of
    `height` x `width`, however uncertain."""
    located = keypoints.landmarks14(np.concatenate([points[:, :2], np.ones((len(points), 1))],
                                                   axis=1), keypoints.BODY25_NAMES)
    outside = ((located[:, :2] < 0) | (located[:, :2] > [width, height])).any(axis=1)
    return [name for name, out in zip(constants.LANDMARK14_NAMES, outside) if out]


def _person(points, source, min_confidence):
    """The Person of one detection's BODY_25 keypoints, refused when too small."""
    person = people.person_from_keypoints(points, source, min_confidence,
                                          keypoints.BODY25_NAMES)
    if person.box is not None and person.box[3] - person.box[1] < MIN_HEIGHT:
        tall = person.box[3] - person.box[1]
        return people.Person(error=f"{source}: the person is {tall:.0f} px tall, under the "
                             f"{MIN_HEIGHT} px a crop needs")
    return person


def detect_images(detector, paths, keypoints_dir, min_confidence=keypoints.MIN_CONFIDENCE,
                  max_megapixels=images.DEFAULT_MAX_MEGAPIXELS):
    """Runs `detector` on every image and writes its OpenPose JSON to `keypoints_dir`.

    Returns ({image key: [Person]} for the images with people, notes [(id, message)],
    failures [(image key, message)] for images that cannot be read or are over
    `max_megapixels`, judged by their headers before decoding).
    """
    found, notes, failed = {}, [], []
    for path in paths:
        key = people.image_key(path)
        try:
            images.check_pixel_budget(path, max_megapixels, "max_megapixels")
            image = inputs.as_rgb8(inputs.read_pixels(path))
        except (OSError, ValueError) as error:
            failed.append((key, str(error)))
            continue
        detections = [body25(person.landmarks) for person in detector.detect(image)]
        files.atomic_write(os.path.join(keypoints_dir, key + people.OPENPOSE_SUFFIX + ".json"),
                           openpose_json(detections))
        if not detections:
            notes.append((key, f"{path}: no person found"))
            continue
        found[key] = [_person(points, f"{path}, person {index}", min_confidence)
                      for index, points in enumerate(detections)]
        for index, points in enumerate(detections):
            cut = outside_image(points, *image.shape[:2])
            if cut and found[key][index].box is not None:
                notes.append((f"{key}_p{index}", f"{path}, person {index}: cut by the image "
                              f"border ({', '.join(cut)} outside the image); cropped from its "
                              "confident landmarks"))
    return found, notes, failed
