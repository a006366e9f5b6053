"""Milliseconds per frame of the renderer on the synthetic body (13776 faces).

Usage: python benchmarks/bench_render.py [--resolution=512] [--frames=50]
"""
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting import constants, render  # noqa: E402
from neural_body_fitting.body import smpl
from neural_body_fitting.body.synthetic import synthetic_body_model  # noqa: E402
from neural_body_fitting.data import encodings  # noqa: E402

RESOLUTION = flags.DEFINE_integer("resolution", 512, "Output size in pixels.")
FRAMES = flags.DEFINE_integer("frames", 50, "Frames per case.")


def main(argv):
    del argv
    model = synthetic_body_model()
    pose = np.zeros((1, 72))
    pose[0, 0] = np.pi  # Upright, facing the camera.
    vertices = smpl.SMPL(model)(np.zeros((1, 10)), pose, constants.FIXED_TRANSLATION[None])[
        "vertices"].numpy()[0].astype(np.float64)
    labels = render.face_labels_from_vertex_labels(model.part12, model.faces)
    size = RESOLUTION.value
    cases = {
        "label map": lambda: render.render_label_map(vertices, model.faces, labels, size),
        "label map + colour map": lambda: encodings.colourise(
            render.render_label_map(vertices, model.faces, labels, size)),
        "depth": lambda: render.render_depth(vertices, model.faces, size),
        "shaded": lambda: render.render_shaded(vertices, model.faces, size),
    }
    print(f"# bench_render: {len(model.faces)} faces at {size}x{size}; {platform.machine()}, "
          f"{os.cpu_count()} cores")
    print("# command: python benchmarks/bench_render.py")
    print("| case | median ms | mean ms |")
    print("|---|---:|---:|")
    for name, function in cases.items():
        function()
        times = []
        for _ in range(FRAMES.value):
            start = time.perf_counter()
            function()
            times.append((time.perf_counter() - start) * 1e3)
        print(f"| {name} | {np.median(times):.2f} | {np.mean(times):.2f} |")


if __name__ == "__main__":
    app.run(main)
