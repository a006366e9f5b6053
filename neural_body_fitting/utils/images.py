"""Image files through OpenCV, in RGB order, with errors that name the file."""
import os

import cv2
import numpy as np

from neural_body_fitting.utils import files


def encode_png(image, path="<image>"):
    """PNG bytes of a uint8 RGB [H, W, 3] or single-channel [H, W] image."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: images must be uint8, got {image.dtype}")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{path}: could not encode PNG of shape {image.shape}")
    return encoded.tobytes()


def write_png(path, image):
    """Writes a uint8 RGB (or single-channel) image as PNG, atomically."""
    return files.atomic_write(path, encode_png(image, path))


def read_image(path, flags=cv2.IMREAD_COLOR):
    """An image file as uint8 RGB [H, W, 3] (or [H, W] with cv2.IMREAD_UNCHANGED)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file does not exist")
    with open(path, "rb") as stream:
        raw = np.frombuffer(stream.read(), np.uint8)
    image = cv2.imdecode(raw, flags) if raw.size else None
    if image is None:
        raise ValueError(f"{path}: not a readable image (truncated or damaged)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


def read_label_map(path):
    """A single-channel label PNG as uint8 [H, W]."""
    labels = read_image(path, cv2.IMREAD_UNCHANGED)
    if labels.ndim != 2:
        raise ValueError(f"{path}: a label map must have one channel, got {labels.shape}")
    return labels
