"""Results computed once: each cached in a JSON file, and a variant identical to one of
another table in the same directory reusing that run."""
import glob
import json
import os
import time

from neural_body_fitting.reproduction import budget, variants
from neural_body_fitting.training import runs
from neural_body_fitting.utils import files


def cached(path, compute, *args, key=None):
    """(result, whether cached): the result in `path`, else `compute(*args)`'s, written there.

    With `key` (a JSON-able dict of what the result depends on) a stored
    result made for another key is computed again.
    """
    if os.path.isfile(path):
        result = budget.read_recorded(path, "cached result")
        if key is None or result.get("key") == key:
            return result, True
    result = compute(*args)
    if key is not None:
        result = {**result, "key": key}
    files.atomic_write(path, json.dumps(result, indent=2, allow_nan=False))
    return result, False


def train_or_reuse(output_dir, config, run_dir, steps, progress, test_roots=None):
    """The result of the identical run of another table if there is one, else of training."""
    identical = find_identical_run(output_dir, config, steps, run_dir)
    if identical:
        return reused_result(identical, config, test_roots)
    return variants.train_and_evaluate(config, run_dir, steps, progress, test_roots)


def find_identical_run(output_dir, config, steps, run_dir):
    """The run directory of another table's variant trained exactly as `config` would, or None.

    Identical: the recorded config differs in no key (operational ones
    included), the training list has the same fingerprint, the run was never
    resumed with changes, and its result is for `steps` steps.
    """
    data = runs.dataset_identity(config.runtime.dataset_root, config.runtime.train_split)
    for path in sorted(glob.glob(os.path.join(output_dir, "*", "*", "result.json"))):
        candidate = os.path.join(os.path.dirname(path), "run")
        if os.path.abspath(candidate) == os.path.abspath(run_dir):
            continue
        record = runs.read_record(candidate)
        if record is None or record["history"]:
            continue
        result = budget.read_recorded(path, "cached result")
        differences = runs.config_differences(record["config"], config,
                                              selected=lambda key: True)
        if (not differences and result.get("steps") == steps
                and record["dataset"].get("fingerprint") == data["fingerprint"]):
            return candidate
    return None


def reused_result(source_run, config, test_roots=None):
    """The result of the identical run `source_run`, marked as reused.

    With `test_roots` (Table 2) the run is evaluated on those datasets (its
    evaluations go beside its own, as eval_test_<name>).
    """
    start = time.perf_counter()
    result = budget.read_recorded(os.path.join(os.path.dirname(source_run), "result.json"),
                                  "cached result")
    if test_roots:
        result["metrics"], result["num_test"] = variants.evaluate_run(config, source_run,
                                                                      test_roots)
    return {**result, "steps_this_call": 0, "train_seconds": 0.0,
            "eval_seconds": time.perf_counter() - start,
            "reused_from": os.path.abspath(source_run)}
