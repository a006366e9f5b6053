"""Rotations (Rodrigues, quaternions, the kinematic chain, the SVD projection
to SO(3)), left-right mirroring and the original camera, in TensorFlow."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("camera", "mirror", "rotations"),
    exports={
        "rotations": ("axis_angle_to_matrix", "matrix_to_quaternion", "quaternion_to_matrix",
                      "quaternion_to_axis_angle", "matrix_to_axis_angle", "quaternion_distance",
                      "chain_depth_schedule", "compose_chain", "relative_to_absolute",
                      "absolute_to_relative", "project_to_so3"),
        "mirror": ("mirror_rotations", "mirror_axis_angle", "mirror_points"),
        "camera": ("project_points", "normalise_pixels"),
    },
)
