"""What to run on: the items of an inference (one per person) and their pixels.

An item is a person in an image file: the whole file (a 512 NBF crop, or a
part map in `fit` mode) or one person box of it. Problems known before
reading (no box for an image, keypoints of an image that is not there) make
items that carry their error. `load_item` turns an item into the network's
input, raising ValueError with a message for the user on bad pixels:

  segment_fit  any 8- or 16-bit greyscale, RGB or RGBA image (greyscale is
               repeated, alpha composited over black, 16 bit scaled to 8);
               cropped around its box, or already a 512 x 512 crop
  fit          a square 12-part colour map (exact part colours) or a label
               map (one channel, values 0..12), 8 bit; thumbnail-nearest to 224
  keypoints_fit  a photograph as for segment_fit, with the person's 14
               landmarks (from keypoints or the detector): the network reads the
               landmarks, the crop is what the gallery shows
"""
import dataclasses
import glob
import os

import cv2
import numpy as np

from neural_body_fitting import constants
from neural_body_fitting.data import encodings
from neural_body_fitting.serving import crops, handover, people
from neural_body_fitting.utils import images

MODES = ("fit", "segment_fit", "keypoints_fit")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
MIN_SIDE = 32  # Smaller images cannot show a person (or a part map) usefully.


@dataclasses.dataclass(frozen=True)
class Item:
    """One person to process; `error` set when it cannot be. `landmarks14` [14, 3]
    (x, y, confidence in the image) when keypoints gave them."""

    id: str
    path: str
    person: int = 0
    box: tuple = None
    error: str = None
    landmarks14: np.ndarray = None


def list_images(pattern):
    """Image files of a folder, a glob pattern or a single file, sorted."""
    if os.path.isdir(pattern):
        paths = [os.path.join(pattern, name) for name in os.listdir(pattern)]
        paths = [p for p in paths if p.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(p)]
    elif os.path.isfile(pattern):
        paths = [pattern]
    else:
        paths = glob.glob(pattern)
    if not paths:
        raise FileNotFoundError(f"--input {pattern}: no image files (folder, glob or file)")
    return sorted(paths)


def _oversized(path, max_megapixels):
    """The refusal of an image over the pixel budget, or None."""
    try:
        images.check_pixel_budget(path, max_megapixels, "max_megapixels")
    except ValueError as error:
        return str(error)
    return None


def collect_items(image_paths, people_by_image=None, people_source=None,
                  max_megapixels=images.DEFAULT_MAX_MEGAPIXELS):
    """[Item] for the images; with `people_by_image` ({key: [Person]}) one per person.

    Images without people, people without an image and images over
    `max_megapixels` (judged by their headers) become error items.
    """
    if people_by_image is None:
        return _without_clashes([Item(people.image_key(path), path,
                                      error=_oversized(path, max_megapixels))
                                 for path in image_paths])
    items, seen = [], set()
    for path in image_paths:
        key = people.image_key(path)
        seen.add(key)
        found = people_by_image.get(key)
        oversized = _oversized(path, max_megapixels)
        if oversized:
            items.append(Item(key, path, error=oversized))
        elif not found:
            items.append(Item(key, path, error=f"{path}: no person box or keypoints in "
                              f"{people_source} for this image"))
            continue
        for index, person in enumerate(found):
            items.append(Item(f"{key}_p{index}", path, index, person.box, person.error,
                              person.landmarks14))
    for key in sorted(set(people_by_image) - seen):
        items.append(Item(key, "", error=f"{people_source}: people for image '{key}', which "
                          "is not among the inputs"))
    return _without_clashes(items)


def _without_clashes(items):
    """Items whose outputs would share a name (a.png and a.jpg) fail instead of overwriting."""
    paths = {}
    for item in items:
        paths.setdefault(item.id, set()).add(item.path)
    return [item if item.error or len(paths[item.id]) == 1 else dataclasses.replace(
        item, error=f"{item.path}: its outputs would be named '{item.id}' like those of "
        f"{sorted(paths[item.id] - {item.path})}; rename one") for item in items]


def read_pixels(path):
    """An image file as it is stored: uint8 or uint16, [H, W] or [H, W, C] in RGB(A) order."""
    with open(path, "rb") as stream:
        raw = np.frombuffer(stream.read(), np.uint8)
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if image is None:
        raise ValueError(f"{path}: not a readable image (truncated, damaged or not an image)")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    if min(image.shape[:2]) < MIN_SIDE:
        raise ValueError(f"{path}: {image.shape[1]}x{image.shape[0]} px is too small (at least "
                         f"{MIN_SIDE} px a side)")
    return image


def as_rgb8(image):
    """Any greyscale/RGB/RGBA uint8 or uint16 image -> uint8 RGB [H, W, 3]."""
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] in (2, 4):  # Composited over black.
        alpha = image[..., -1:].astype(np.float32) / 255.0
        image = np.round(image[..., :-1] * alpha).astype(np.uint8)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def part_map_colours(image, path):
    """A part map (colours [n, n, 3/4] or labels [n, n]) -> exact colour map uint8 [n, n, 3]."""
    if image.dtype != np.uint8:
        raise ValueError(f"{path}: a part map must be 8 bit, got {image.dtype.itemsize * 8} bit")
    if image.shape[0] != image.shape[1]:
        raise ValueError(f"{path}: a part map must be square, got {image.shape[1]}x"
                         f"{image.shape[0]}")
    if image.ndim == 2:
        if image.max() > constants.NUM_PARTS:
            raise ValueError(f"{path}: a label map holds 0..{constants.NUM_PARTS}, found "
                             f"{image.max()} (a greyscale photo? use --mode=segment_fit)")
        return encodings.colourise(image)
    colours = image[..., :3]
    try:
        encodings.decolourise(colours)
    except ValueError as error:
        raise ValueError(f"{path}: not a 12-part colour map ({error}; a photo? use "
                         "--mode=segment_fit)") from None
    return colours


def load_original(item, mode):
    """The item's image as the gallery shows the original: uint8 RGB [H, W, 3]."""
    image = read_pixels(item.path)
    return part_map_colours(image, item.path) if mode == "fit" else as_rgb8(image)


def load_item(item, mode):
    """(network input uint8 [S, S, 3], crop transform) of an item.

    S is 224 for `fit` (the thumbnail-nearest map; the transform maps the
    512 crop frame to the map as given) and 512 for `segment_fit`.
    """
    image = load_original(item, mode)
    height, width = image.shape[:2]
    if mode == "fit":
        transform = crops.CropTransform(constants.CROP_SIZE / width, width / 2.0, height / 2.0)
        return handover.resize_nearest(image[None], constants.FIT_SIZE)[0], transform
    if item.box is not None:
        x0, y0, x1, y1 = item.box
        if x1 < 0 or y1 < 0 or x0 > width or y0 > height:  # A black crop would be fitted.
            raise ValueError(f"{item.path}: person box {[float(v) for v in item.box]} lies "
                             f"entirely outside the {width}x{height} image")
        transform = crops.transform_for_box(item.box)
        return crops.crop_image(image, transform), transform
    if (height, width) != (constants.CROP_SIZE, constants.CROP_SIZE):
        raise ValueError(f"{item.path}: {width}x{height} px is not a 512x512 NBF crop and no "
                         "person box was given (--keypoints or --boxes)")
    return image, crops.CropTransform.identity()
