"""`make demo`: builds the synthetic body model, poses it and prints what SMPL returns.

    python -m neural_body_fitting.demo [--smpl_model=PATH] [--batch_size=64]

Shows the body model's statistics, a few named poses with their 3D joints and
their projections into the original's 224 px crop, and the SMPL layer's
throughput. Uses the built-in synthetic model unless a real SMPL file is
given (flag, or the NBF_SMPL_MODEL environment variable).
"""
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from neural_body_fitting import body_model, constants, geometry, smpl  # noqa: E402

SMPL_MODEL = flags.DEFINE_string("smpl_model", None,
                                 "SMPL .pkl/.npz; default $NBF_SMPL_MODEL or 'synthetic'.")
BATCH_SIZE = flags.DEFINE_integer("batch_size", 64, "Batch size of the throughput check.")


def named_poses():
    """A few axis-angle poses [N, 72] standing upright in the original camera."""
    poses = np.zeros((4, 72))
    poses[:, 0] = np.pi  # Upright and facing the camera (y down, looking along +z).
    poses[1, 16 * 3 + 2] = -1.2  # Left shoulder: arm down.
    poses[1, 17 * 3 + 2] = 1.2
    poses[2, 1 * 3] = -1.4  # Left hip flexed, knee bent: a step.
    poses[2, 4 * 3] = 1.2
    poses[3, 1] = np.pi / 2  # Turned to the side, arms raised.
    poses[3, 0:3] = geometry.matrix_to_axis_angle(
        geometry.axis_angle_to_matrix(np.array([np.pi, 0.0, 0.0]))
        @ geometry.axis_angle_to_matrix(np.array([0.0, np.pi / 2, 0.0]))).numpy()
    poses[3, 16 * 3 + 2] = 0.6
    poses[3, 17 * 3 + 2] = -0.6
    return poses, ("T-pose", "arms down", "stepping", "turned, arms up")


def main(argv):
    del argv
    model = body_model.resolve_body_model(SMPL_MODEL.value)
    rest = model.J_regressor @ model.v_template
    height = np.ptp(model.v_template[:, 1])
    print(f"Body model: {model.name}")
    print(f"  {model.num_vertices} vertices, {len(model.faces)} faces, {model.num_betas} shape "
          f"components, height {height:.3f} m, arm span {np.ptp(model.v_template[:, 0]):.3f} m")
    layer = smpl.SMPL(model)
    poses, names = named_poses()
    betas = np.zeros((len(poses), model.num_betas))
    translation = np.tile(constants.FIXED_TRANSLATION, (len(poses), 1))
    out = layer(betas, poses, translation)
    pixels = geometry.project_points(out["landmarks14"], resolution=constants.FIT_SIZE).numpy()
    print("\nPosed bodies at the original's fixed distance, 14 landmarks in the 224 px crop:")
    print(f"| pose | bbox height px | head top (u, v) | right ankle (u, v) | left wrist (u, v) |")
    print("|---|---:|---|---|---|")
    for name, landmarks in zip(names, pixels):
        span = np.ptp(landmarks[:, 1])
        head, ankle, wrist = landmarks[13], landmarks[0], landmarks[11]
        print(f"| {name} | {span:.0f} | ({head[0]:.0f}, {head[1]:.0f}) | "
              f"({ankle[0]:.0f}, {ankle[1]:.0f}) | ({wrist[0]:.0f}, {wrist[1]:.0f}) |")
    print("\nRest joints J(0) (m):")
    for index in (0, 12, 15, 16, 20, 7):
        print(f"  {constants.JOINT_NAMES[index]:>14s}: {np.round(rest[index], 3)}")
    for component in range(min(3, model.num_betas)):
        shaped = model.v_template + 2.0 * model.shapedirs[:, :, component]
        print(f"  beta[{component}] = +2 changes the height by "
              f"{np.ptp(shaped[:, 1]) - height:+.3f} m")
    batch = BATCH_SIZE.value
    rng = np.random.default_rng(0)
    betas = tf.constant(rng.normal(size=(batch, model.num_betas)), tf.float32)
    pose = tf.constant(rng.normal(scale=0.3, size=(batch, 72)), tf.float32)
    layer(betas, pose)  # Compile.
    start = time.perf_counter()
    repeats = 20
    for _ in range(repeats):
        layer(betas, pose)["vertices"].numpy()
    seconds = (time.perf_counter() - start) / repeats
    print(f"\nSMPL forward, batch {batch}: {seconds * 1e3:.1f} ms ({batch / seconds:,.0f} bodies/s)")


if __name__ == "__main__":
    app.run(main)
