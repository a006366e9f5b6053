"""Import cost: the package and the body-model I/O load without TensorFlow.

Usage: python benchmarks/bench_import.py [--repeats=5]

Each case runs in a fresh interpreter; the table gives the median seconds of
the statement and whether TensorFlow was loaded afterwards.
"""
import os
import platform
import subprocess
import sys
import tempfile

import numpy as np
from absl import app, flags

REPEATS = flags.DEFINE_integer("repeats", 5, "Fresh interpreters per case.")

CASES = {
    "import neural_body_fitting": "import neural_body_fitting",
    "import neural_body_fitting.constants": "import neural_body_fitting.constants",
    "import neural_body_fitting.body": "import neural_body_fitting.body",
    "nbf.load_body_model (.npz)": "import neural_body_fitting as nbf; nbf.load_body_model(PATH)",
    "nbf.SMPL (loads TensorFlow)": "import neural_body_fitting as nbf; nbf.SMPL",
}
_TIMED = """
import sys, time
start = time.perf_counter()
{statement}
print(time.perf_counter() - start, "tensorflow" in sys.modules)
"""


def _run(statement, path):
    code = _TIMED.format(statement=statement.replace("PATH", repr(path)))
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    return float(output[0]), output[1] == "True"


def main(argv):
    del argv
    import neural_body_fitting as nbf

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        nbf.save_body_model(nbf.synthetic_body_model(), path)
        print(f"# bench_import: {platform.machine()}, {os.cpu_count()} cores, "
              f"median of {REPEATS.value} fresh interpreters")
        print("# command: python benchmarks/bench_import.py")
        print("| statement | median s | TensorFlow loaded |")
        print("|---|---:|---|")
        for name, statement in CASES.items():
            runs = [_run(statement, path) for _ in range(REPEATS.value)]
            seconds = np.median([seconds for seconds, _ in runs])
            print(f"| `{name}` | {seconds:.3f} | {'yes' if runs[0][1] else 'no'} |")


if __name__ == "__main__":
    app.run(main)
