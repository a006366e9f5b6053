"""`Detector`: every person in an RGB photograph, with MediaPipe's BlazePose models
(`models.py`) run by a TFLite interpreter and our own pipeline around them:

  image -> letterboxed 224 square -> person detector -> decoded detections (anchors.py,
  decoding.py) -> weighted NMS -> one rotated ROI per person (regions.py) -> 256 crop
  -> landmark model -> 33 landmarks, world landmarks and mask in the image (landmarks.py)

An image without people gives an empty list. docs/detection.md has the details.
"""
import contextlib
import dataclasses
import warnings

import numpy as np

from neural_body_fitting.detection import anchors, decoding, landmarks, models, regions

# Landmark boxes overlapping an earlier (better scored) person's by more than this are
# that person again; two people this entangled are rare in a photograph.
DUPLICATE_IOU = 0.6


@dataclasses.dataclass(frozen=True)
class Person:
    """One detected person; coordinates in pixels of the image given to `detect`."""
    box: np.ndarray  # [4] xmin, ymin, xmax, ymax within the image (`person_box`).
    score: float  # The person detector's confidence (0.5 to 1).
    landmarks: np.ndarray  # [33, 5] x, y, z, visibility, presence (landmarks.py).
    world_landmarks: np.ndarray  # [33, 3] metres, origin between the hips.
    mask: np.ndarray | None  # [H, W] float32 in [0, 1], or None without masks.
    roi: regions.Roi  # The region the landmark model saw.
    presence: float  # The landmark model's confidence that the ROI holds a person.


@contextlib.contextmanager
def _quiet_deprecation():
    # TensorFlow warns that tf.lite.Interpreter moves to ai_edge_litert; it still works
    # and is what is installed. Only that one warning is hidden.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is "
                                "deprecated", category=UserWarning)
        yield


def interpreter_class():
    """ai_edge_litert's Interpreter when that package is installed, else TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def load_interpreter(path, num_threads=None):
    with _quiet_deprecation():
        interpreter = interpreter_class()(model_path=path, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter


def _outputs_by_size(interpreter):
    """{number of values: output index}: the models' outputs told apart by their sizes
    (the tensors' names, Identity_<n>, say nothing)."""
    return {int(np.prod(detail["shape"])): detail["index"]
            for detail in interpreter.get_output_details()}


def run(interpreter, batch):
    """Runs `interpreter` on `batch` [B, ...] float32, resizing its input when B changes."""
    detail = interpreter.get_input_details()[0]
    if tuple(detail["shape"]) != batch.shape:
        interpreter.resize_tensor_input(detail["index"], batch.shape)
        interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], batch)
    interpreter.invoke()


def as_rgb(image, name="image"):
    """uint8 [H, W, 3] from uint8 RGB, RGBA (alpha dropped) or greyscale ([H, W] or
    [H, W, 1]); ValueError naming `name` for anything else."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array (uint8 RGB [H, W, 3]), got "
                         f"{type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels (0 to 255), got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise ValueError(f"{name}: expected [H, W, 3] RGB, [H, W, 4] RGBA or [H, W] "
                         f"greyscale, got shape {image.shape}")
    if image.shape[-1] == 1:
        return np.repeat(image, 3, axis=-1)
    return np.ascontiguousarray(image[..., :3])


def landmark_box(points, height, width):
    """[4] xmin, ymin, xmax, ymax of landmark points [N, 2], clipped to the image."""
    low = np.clip(points.min(axis=0), 0, [width, height])
    high = np.clip(points.max(axis=0), 0, [width, height])
    return np.concatenate([low, high]).astype(np.float32)


def mask_box(mask, threshold=0.5):
    """[4] xmin, ymin, xmax, ymax of the pixels of `mask` [H, W] above `threshold`, or
    None when there are none."""
    rows, columns = np.nonzero(mask > threshold)
    if not rows.size:
        return None
    return np.array([columns.min(), rows.min(), columns.max() + 1, rows.max() + 1], np.float32)


def person_box(points, mask, height, width):
    """The person's extent: the mask's when there is one (it covers the hair and the
    outline; landmarks are joint centres and stop at the eyes), else the landmarks'."""
    box = None if mask is None else mask_box(mask)
    return landmark_box(points, height, width) if box is None else box


class Detector:
    """Finds people with BlazePose: `detect(image)` -> list of `Person`, best first.

    folder: where the model files are (default $NBF_CACHE/blazepose); missing or
    damaged files raise `models.ModelFileError` naming `nbf-models fetch`.
    """

    def __init__(self, folder=None, num_threads=None, min_score=decoding.MIN_SCORE,
                 masks=True, max_people=None, tile_levels=1):
        self.detector = load_interpreter(models.model_path(models.POSE_DETECTION, folder),
                                         num_threads)
        self.landmarker = load_interpreter(models.model_path(models.POSE_LANDMARK_FULL, folder),
                                           num_threads)
        self.anchors = anchors.anchor_centres()
        self.min_score, self.masks, self.max_people = min_score, masks, max_people
        self.tile_levels = tile_levels
        sizes = _outputs_by_size(self.detector)
        self._boxes = sizes[len(self.anchors) * decoding.VALUES_PER_ANCHOR]
        self._scores = sizes[len(self.anchors)]
        sizes = _outputs_by_size(self.landmarker)
        self._landmarks = sizes[landmarks.NUM_OUTPUT_LANDMARKS * 5]
        self._presence = sizes[1]
        self._mask = sizes[regions.LANDMARK_SIZE ** 2]
        self._world = sizes[landmarks.NUM_OUTPUT_LANDMARKS * 3]

    def find_in_squares(self, image, squares):
        """[Detections] (decoding.Detections, image pixels) in squares [(x0, y0, side)]
        of a uint8 RGB image (side None: the whole image, letterboxed), each suppressed
        within itself. One square at a time: the detector's graph reshapes its outputs
        for a batch of 1, so a larger batch comes out mixed up."""
        size, found = regions.DETECTOR_SIZE, []
        for x0, y0, side in squares:
            part = image if side is None else np.ascontiguousarray(
                image[y0:y0 + side, x0:x0 + side])
            tensor, to_image = regions.detector_input(part)
            run(self.detector, tensor)
            in_square = decoding.weighted_nms(decoding.decode(
                self.detector.get_tensor(self._boxes)[0],
                self.detector.get_tensor(self._scores)[0], self.anchors,
                min_score=self.min_score))
            shift = np.array([x0, y0])
            boxes = regions.apply(to_image, in_square.boxes.reshape(-1, 2, 2) * size) + shift
            keypoints = regions.apply(to_image, in_square.keypoints * size) + shift
            found.append(decoding.Detections(in_square.scores,
                                             boxes.reshape(-1, 4).astype(np.float32),
                                             keypoints.astype(np.float32)))
        return found

    def find(self, image):
        """(Detections, their ROIs) in a uint8 RGB image: the whole image and its
        `tiles` squares, merged by weighted NMS on the ROIs' squares, best first."""
        squares = [(0, 0, None)] + regions.tiles(*image.shape[:2], self.tile_levels)
        found = self.find_in_squares(image, squares)
        scores = np.concatenate([f.scores for f in found])
        keypoints = np.concatenate([f.keypoints for f in found]).reshape(-1, 4, 2)
        rois = [regions.roi_from_keypoints(k[0], k[1]) for k in keypoints]
        boxes = np.array([regions.square_box(roi) for roi in rois], np.float32).reshape(-1, 4)
        merged = decoding.weighted_nms(decoding.Detections(scores, boxes, keypoints))
        if self.max_people is not None:
            merged = merged.take(np.arange(min(len(merged), self.max_people)))
        return merged, [regions.roi_from_keypoints(k[0], k[1]) for k in merged.keypoints]

    def landmarks_in(self, image, rois):
        """The landmark model on ROIs of a uint8 RGB image, as one batch: per ROI
        (presence, landmarks [33, 5], world [33, 3], mask [H, W] or None)."""
        if not rois:
            return []
        crops = [regions.landmark_input(image, roi) for roi in rois]
        run(self.landmarker, np.stack([crop for crop, _ in crops]))
        output = self.landmarker.get_tensor
        results = []
        for index, (roi, (_, to_image)) in enumerate(zip(rois, crops)):
            presence = float(np.ravel(output(self._presence)[index])[0])
            points = landmarks.image_landmarks(output(self._landmarks)[index], to_image)
            world = landmarks.world_landmarks(output(self._world)[index], roi.rotation)
            mask = (landmarks.image_mask(output(self._mask)[index], to_image, *image.shape[:2])
                    if self.masks and presence >= landmarks.PRESENCE_THRESHOLD else None)
            results.append((presence, points, world, mask))
        return results

    def detect(self, image):
        """list of `Person` in `image` (uint8 RGB [H, W, 3], RGBA or greyscale), best
        first; empty when there is no one."""
        image = as_rgb(image)
        height, width = image.shape[:2]
        people = []
        found, rois = self.find(image)
        # Keypoints 0 and 1 that coincide leave no region to look at.
        kept = [index for index, roi in enumerate(rois) if roi.size >= 1]
        results = self.landmarks_in(image, [rois[index] for index in kept])
        for index, (presence, points, world, mask) in zip(kept, results):
            roi = rois[index]
            if presence < landmarks.PRESENCE_THRESHOLD:
                continue
            box = person_box(points[:, :2], mask, height, width)
            if people and decoding.iou(box, np.array([p.box for p in people])).max(
                    ) > DUPLICATE_IOU:
                continue  # Two ROIs of one person that NMS kept apart (e.g. turned).
            people.append(Person(box, float(found.scores[index]), points, world, mask, roi,
                                 presence))
        return people
