"""The library's cache folder: files it fetched by an explicit command or derived itself.

`$NBF_CACHE` names it (default `~/.cache/neural_body_fitting`); each user of the cache
keeps its files in a subfolder of its own. Nothing in the cache is ever the only copy
of anything: each file is either fetched again by its command or rebuilt.
"""
import hashlib
import os

VARIABLE = "NBF_CACHE"
DEFAULT = os.path.join("~", ".cache", "neural_body_fitting")


def folder(subfolder, environ=None):
    """$NBF_CACHE/<subfolder> as an absolute path (not created here)."""
    environ = os.environ if environ is None else environ
    root = environ.get(VARIABLE) or DEFAULT
    return os.path.join(os.path.abspath(os.path.expanduser(root)), subfolder)


def source_key(modules, *values):
    """A hex digest of the source files of `modules` and of `values`: a derived file
    named by it is rebuilt whenever the code that makes it (or a value) changes."""
    digest = hashlib.sha256()
    for module in modules:
        with open(module.__file__, "rb") as stream:
            digest.update(stream.read())
    for value in values:
        digest.update(repr(value).encode())
    return digest.hexdigest()[:16]
