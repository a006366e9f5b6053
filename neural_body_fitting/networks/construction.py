"""Building networks without touching process-wide state.

Keras draws the seeds of unseeded initializers (and dropout) from Python's
`random` module when a layer is made, and takes a layer's dtype policy from
the global policy. These context managers set both for the construction of
one network and restore them afterwards, so that building a model (for
example inside a `Trainer`) never changes what the caller's code sees.
"""
import contextlib
import random

import keras


@contextlib.contextmanager
def seeded(seed):
    """Layers made inside get initial weights determined by `seed`."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


@contextlib.contextmanager
def dtype_policy(name):
    """Layers made inside use the dtype policy `name` (e.g. 'mixed_float16'); None: as is."""
    if name is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
