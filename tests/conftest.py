"""Shared test set-up: quiet TensorFlow, deterministic seeds, memory freed per module."""
import ctypes
import gc
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module", autouse=True)
def free_graphs_after_the_module():
    """Drops the Keras graphs and models a test module built: without this, an xdist
    worker keeps every module's networks and grows past 7 GB. glibc keeps freed
    memory in its heap; malloc_trim hands it back to the system."""
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
    gc.collect()
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained fitting run (tests/serving_helpers.py), shared by a test module."""
    from serving_helpers import untrained_fitting_run

    return untrained_fitting_run(str(tmp_path_factory.mktemp("fit_run")))


@pytest.fixture(scope="module")
def eager(run_dir):
    """The eager Predictor of `run_dir` with the tiny stand-in segmenter."""
    from serving_helpers import tiny_segmenter

    from neural_body_fitting.serving import predictor

    return predictor.Predictor(predictor.load_fitting_run(run_dir), tiny_segmenter())
