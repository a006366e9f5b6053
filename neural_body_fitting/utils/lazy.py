"""Lazily loaded package attributes (PEP 562), so that importing a package
costs only what is used: `nbf.load_body_model` never loads TensorFlow."""
import importlib
import sys


def attach(package, submodules=(), exports=None):
    """(__getattr__, __dir__, __all__) for a package `__init__`.

    Args:
      package: the package's `__name__`.
      submodules: names of submodules reachable as attributes (`pkg.smpl`).
      exports: {submodule: (name, ...)}: names re-exported from a submodule
        (`pkg.SMPL` is `pkg.smpl.SMPL`); a submodule may be a dotted path.
    """
    owners = {name: module for module, names in (exports or {}).items() for name in names}
    public = sorted(set(submodules) | set(owners))

    def __getattr__(name):
        if name in owners:
            value = getattr(importlib.import_module(f"{package}.{owners[name]}"), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        setattr(sys.modules[package], name, value)  # Later look-ups skip __getattr__.
        return value

    def __dir__():
        return public

    return __getattr__, __dir__, public
