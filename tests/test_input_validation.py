"""Specifications of the input checks: a bad input PNG or split list is reported by
name when the split is loaded (or the sample skipped and counted), never deep in
tf.data, and checking changes no file."""
import hashlib
import os
import re
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import data
from neural_body_fitting.data import layout, synthesis
from neural_body_fitting.utils import images

BAD_ID = "train_000002"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("valid"))
    synthesis.generate_dataset(path, {"train": 6}, seed=3, progress=False)
    return path


@pytest.fixture
def root(source, tmp_path):
    """A fresh copy of the valid dataset for one case to damage."""
    path = str(tmp_path / "data")
    shutil.copytree(source, path)
    return path


def file_hashes(root):
    hashes = {}
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as stream:
                hashes[os.path.relpath(os.path.join(folder, name), root)] = hashlib.sha256(
                    stream.read()).hexdigest()
    return hashes


def write_bytes(path, raw):
    with open(path, "wb") as stream:
        stream.write(raw)


def truncate(path):
    with open(path, "rb") as stream:
        raw = stream.read()
    write_bytes(path, raw[:len(raw) // 2])


def make_empty(path):
    write_bytes(path, b"")


def as_jpeg(path):
    write_bytes(path, cv2.imencode(".jpg", images.read_image(path))[1].tobytes())


def as_16_bit_rgba(path):
    write_bytes(path, cv2.imencode(".png", np.full((512, 512, 4), 40000, np.uint16))[1].tobytes())


def shrink(path):
    images.write_png(path, cv2.resize(images.read_image(path), (256, 256)))


def crop_to_non_square(path):
    images.write_png(path, images.read_image(path)[:200])


def as_grey(path):
    images.write_png(path, images.read_image(path)[..., 0])


def as_rgb(path):
    images.write_png(path, np.repeat(images.read_label_map(path)[..., None], 3, axis=-1))


def paint_foreign_colour(path):
    colours = images.read_image(path)
    colours[10, 20] = (12, 34, 56)
    images.write_png(path, colours)


def paint_foreign_colour_in_original_layout(path):
    """Data prepared by the original code has no labels/: parts6 regroups colours/."""
    paint_foreign_colour(path)
    shutil.rmtree(os.path.join(os.path.dirname(os.path.dirname(path)), "labels"))


def write_label_200(path):
    labels = images.read_label_map(path)
    labels[14, 109] = 200
    images.write_png(path, labels)


# (input type, file kind it reads, damage, reason in the error).
CASES = {
    "truncated colour map": ("parts12", "colours", truncate, "truncated PNG (no IEND chunk)"),
    "truncated image": ("rgb", "image", truncate, "truncated PNG (no IEND chunk)"),
    "empty colour map": ("parts12", "colours", make_empty, "empty file, not a PNG"),
    "JPEG as PNG": ("parts12", "colours", as_jpeg, "a JPEG file, not a PNG"),
    "16-bit RGBA image": ("rgb", "image", as_16_bit_rgba,
                          "16-bit PNG, expected 8-bit; RGBA PNG, expected RGB"),
    "wrong-size image": ("rgb", "image", shrink, "256x256 PNG, expected 512x512"),
    "non-square colour map": ("parts12", "colours", crop_to_non_square,
                              "224x200 PNG, expected a square map"),
    "grey image": ("rgb", "image", as_grey, "greyscale PNG, expected RGB"),
    "RGB label map": ("parts24", "labels", as_rgb, "RGB PNG, expected greyscale"),
    "foreign colour": ("parts12", "colours", paint_foreign_colour,
                       "colour (12, 34, 56) at pixel (row 10, col 20) is not in the 12-part "
                       "colour table"),
    "foreign colour, regrouped": ("parts6", "colours", paint_foreign_colour_in_original_layout,
                                  "colour (12, 34, 56) at pixel (row 10, col 20) is not in the "
                                  "12-part colour table"),
    "label 200": ("parts24", "labels", write_label_200,
                  "label 200 at pixel (row 14, col 109) is not in 0..24"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_png_is_named_or_skipped_and_counted(root, case):
    input_type, kind, damage, reason = CASES[case]
    path = layout.sample_paths(root, BAD_ID)[kind]
    damage(path)
    before = file_hashes(root)
    with pytest.raises(ValueError) as error:
        data.load_split(root, "train", input_type)
    assert str(error.value) == f"{path}: {reason}"
    split = data.load_split(root, "train", input_type, skip_bad_samples=True)
    assert split.skipped == [(BAD_ID, f"{path}: {reason}")]
    assert len(split.ids) == 5 and BAD_ID not in split.ids
    assert file_hashes(root) == before


def test_valid_inputs_pass_every_check(source):
    before = file_hashes(source)
    for input_type in ("parts12", "parts24", "parts6", "rgb", "joints14"):
        split = data.load_split(source, "train", input_type)
        assert len(split.ids) == 6 and not split.skipped
    assert file_hashes(source) == before


@pytest.mark.parametrize("damage, reason", [(truncate, "truncated PNG (no IEND chunk)"),
                                            (as_jpeg, "not a PNG")])
def test_damage_after_loading_is_named_by_the_pipeline(root, damage, reason):
    split = data.load_split(root, "train")
    path = layout.sample_paths(root, BAD_ID)["colours"]
    damage(path)
    ds = data.make_dataset(split, batch_size=6, shuffle=False, repeat=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(f"{path}: {reason}")):
        next(iter(ds))


def write_list(root, raw):
    write_bytes(layout.list_path(root, "train"), raw)


def list_text(root):
    with open(layout.list_path(root, "train"), "rb") as stream:
        return stream.read()


def test_split_list_with_a_byte_order_mark_reads_clean_ids(root):
    write_list(root, b"\xef\xbb\xbf" + list_text(root))
    split = data.load_split(root, "train")
    assert split.ids[0] == "train_000000" and len(split.ids) == 6


@pytest.mark.parametrize("line, reason", [
    ("train_000002 1", "duplicate id 'train_000002' (first on line 3)"),
    ("../train_000002 1", "id '../train_000002' contains a path separator"),
    ("images\\train_000002 1", "id 'images\\\\train_000002' contains a path separator"),
    ("train 000002 1", "expected '<id> <0|1>' (ids cannot contain whitespace)"),
    ("\ufefftrain_000006 1", "id '\\ufefftrain_000006' contains an invisible or control "
                             "character"),
])
def test_bad_split_list_line_is_named(root, line, reason):
    write_list(root, list_text(root) + line.encode() + b"\n")
    before = file_hashes(root)
    for skip in (False, True):  # A bad list is no bad sample: never skipped.
        with pytest.raises(ValueError) as error:
            data.load_split(root, "train", skip_bad_samples=skip)
        assert str(error.value).startswith(f"{layout.list_path(root, 'train')}:7: {reason}")
    assert file_hashes(root) == before
