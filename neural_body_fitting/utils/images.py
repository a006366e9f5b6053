"""Image files through OpenCV, in RGB order, with errors that name the file."""
import dataclasses
import os
import struct

import cv2
import numpy as np
import PIL.Image

from neural_body_fitting.utils import files

# Decoding takes about 3 bytes a pixel and more in temporaries: a 1 MB PNG of
# 20000 x 20000 pixels would take several GB. 50 megapixels is more than any
# camera's photo and far more than a 512 px person crop needs.
DEFAULT_MAX_MEGAPIXELS = 50.0


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


def _header_size(path):
    """(width, height) of an image file from its header, or None if unknown.

    PNGs are read here (their IHDR); other formats by Pillow, which opens
    files lazily.
    Raises:
      PIL.Image.DecompressionBombError: past Pillow's own limit, which it
        refuses to open at all.
    """
    with open(path, "rb") as stream:
        ihdr = _png_ihdr(stream.read(_HEADER_SIZE))
    if ihdr is not None:
        return ihdr[:2]
    try:
        with PIL.Image.open(path) as image:
            return image.size
    except (PIL.UnidentifiedImageError, OSError):
        return None


def check_pixel_budget(path, max_megapixels=DEFAULT_MAX_MEGAPIXELS, flag=None):
    """Refuses an image file with more pixels than `max_megapixels`, from its header.

    A file whose header says nothing passes: the decoder then names what is
    wrong with it.
    Raises:
      ValueError naming the file, its size and the budget (and `flag`, the
        command-line flag that sets it, if given).
    """
    budget = f"the budget of {max_megapixels:g} megapixels" + (f" (--{flag})" if flag else "")
    try:
        size = _header_size(path)
    except PIL.Image.DecompressionBombError:  # Its message gives no size.
        limit = 2 * PIL.Image.MAX_IMAGE_PIXELS / 1e6
        if max_megapixels < limit:
            raise ValueError(f"{path}: more than {limit:.0f} megapixels, over {budget}") from None
        return
    if size is None:
        return
    width, height = size
    if width * height > max_megapixels * 1e6:
        raise ValueError(f"{path}: {width}x{height} px ({width * height / 1e6:.1f} megapixels) "
                         f"is over {budget}")


def read_image(path, flags=cv2.IMREAD_COLOR, max_megapixels=DEFAULT_MAX_MEGAPIXELS):
    """An image file as uint8 RGB [H, W, 3] (or [H, W] with cv2.IMREAD_UNCHANGED).

    Files over `max_megapixels` are refused before decoding (`check_pixel_budget`).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file does not exist")
    check_pixel_budget(path, max_megapixels)
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



PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Every PNG ends with this empty IEND chunk (length 0, type, CRC); writers
# emit it last, so a file cut short anywhere lacks it.
PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_HEADER_SIZE = 33  # Signature 8, then the IHDR chunk: length 4, type 4, data 13, CRC 4.
COLOUR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale+alpha", 6: "RGBA"}


@dataclasses.dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: str  # A value of COLOUR_TYPES.


def _png_ihdr(head):
    """(width, height, bit depth, colour type) from a PNG's first 33 bytes, or None."""
    if len(head) < _HEADER_SIZE or not head.startswith(PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">IIBB", head[16:26])


def read_png_header(path):
    """A PNG's IHDR fields from its first 33 and last 12 bytes, without decoding it.

    Raises ValueError naming the file if it is empty, another format (a JPEG
    says so), has no complete IHDR, or lacks the closing IEND chunk (truncated).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: file does not exist")
    with open(path, "rb") as stream:
        head = stream.read(_HEADER_SIZE)
        stream.seek(max(0, os.fstat(stream.fileno()).st_size - len(PNG_END)))
        tail = stream.read()
    if not head:
        raise ValueError(f"{path}: empty file, not a PNG")
    if not head.startswith(PNG_SIGNATURE):
        if head.startswith(b"\xff\xd8\xff"):
            raise ValueError(f"{path}: a JPEG file, not a PNG")
        raise ValueError(f"{path}: not a PNG (starts with {head[:8]!r})")
    ihdr = _png_ihdr(head)
    if ihdr is None:
        raise ValueError(f"{path}: truncated or damaged PNG (no complete IHDR header)")
    if tail != PNG_END:
        raise ValueError(f"{path}: truncated PNG (no IEND chunk)")
    width, height, bit_depth, colour_type = ihdr
    return PngHeader(width, height, bit_depth,
                     COLOUR_TYPES.get(colour_type, f"colour type {colour_type}"))
