"""One budget per output directory: recorded on first use, any other refused."""
import dataclasses
import json
import os

from neural_body_fitting.training import runs
from neural_body_fitting.utils import files

# Budget fields added after budget.json files were written; a file that lacks
# one was made with the field's default.
_LATER_BUDGET_FIELDS = {"config_overrides": {}}


class RequestError(ValueError):
    """A request `nbf-reproduce` refuses: unknown variants, a bad budget, or another budget
    on the same directory."""


def read_recorded(path, what):
    """The dict in the output directory's JSON file `path`; a damaged one is a RequestError
    naming it (the command stops with that line, not a traceback)."""
    try:
        return files.read_json_object(path, what)
    except ValueError as error:
        raise RequestError(str(error)) from None


def record_or_refuse(path, wanted, defaults=None):
    """Records the dict `wanted` in `path`, or refuses one that differs from the recorded one.

    A key the recorded dict lacks counts as its value in `defaults`
    (`runs.record_differences`).
    """
    if not os.path.isfile(path):
        files.atomic_write(path, json.dumps(wanted, indent=2))
        return
    recorded = read_recorded(path, "budget record")
    differing = runs.record_differences(recorded, wanted, defaults)
    if differing:
        changes = "; ".join(f"{key}: {old!r} there, {new!r} here" for key, old, new in differing)
        raise RequestError(f"{path}: this output directory holds results of another "
                           f"budget ({changes}); use another --output_dir")


def check_budget(output_dir, budget, body_model_name):
    """Records the budget in <output_dir>/budget.json, or refuses one that differs from it."""
    record_or_refuse(os.path.join(output_dir, "budget.json"),
                     {**dataclasses.asdict(budget), "body_model": body_model_name},
                     _LATER_BUDGET_FIELDS)

