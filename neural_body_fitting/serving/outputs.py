"""The files written for every person, each atomically (complete or absent).

In `<output_dir>/images/`, for the person `<id>`:

  <id>_crop.png             the network's input: the 512 crop, or the part map as given
  <id>_parts.png            the part map (stage 1's labels coloured, or the fitting input)
  <id>_overlay.png          the shaded mesh and the projected joints over the crop
  <id>_overlay_original.png the same over the original image (at most 1024 px wide or high)
  <id>.obj, <id>.ply        the mesh (camera coordinates, metres)
  <id>_body.pkl             the original's UP-3D fit dict (NumPy arrays and floats, protocol 2)
  <id>.npz                  every output of the Predictor, written last: its presence
                            marks the person as finished
"""
import io
import os
import pickle

import cv2
import numpy as np

from neural_body_fitting import constants, render
from neural_body_fitting.data import encodings
from neural_body_fitting.utils import files, images

IMAGES_DIR = "images"
MAX_ORIGINAL_SIDE = 1024  # The original-image overlay is shrunk to this for the gallery.
_OVERLAY_ALPHA = 0.6


def person_paths(output_dir, person_id):
    """{kind: path} of every file of a person (see the module docstring)."""
    stem = os.path.join(output_dir, IMAGES_DIR, person_id)
    return {"crop": f"{stem}_crop.png", "parts": f"{stem}_parts.png",
            "overlay": f"{stem}_overlay.png", "overlay_original": f"{stem}_overlay_original.png",
            "obj": f"{stem}.obj", "ply": f"{stem}.ply", "body_pkl": f"{stem}_body.pkl",
            "npz": f"{stem}.npz"}


def is_finished(output_dir, person_id):
    return os.path.isfile(person_paths(output_dir, person_id)["npz"])


def body_dict(result, index):
    """The original's `<id>_body.pkl` dict of person `index` of a Predictor result."""
    return {"pose": np.asarray(result["pose"][index], np.float64),
            "betas": np.asarray(result["betas"][index], np.float64),
            "trans": np.asarray(result["translation"][index], np.float64),
            "f": float(constants.FOCAL_LENGTH_512), "rt": np.zeros(3), "t": np.zeros(3)}


def obj_text(vertices, faces):
    """Wavefront OBJ of a mesh [V, 3], [F, 3] (0-based indices; OBJ's are 1-based)."""
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in np.asarray(vertices)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces)]
    return "\n".join(lines) + "\n"


def read_obj(path):
    """(vertices float64 [V, 3], faces int64 [F, 3]) of an OBJ with triangles."""
    vertices, faces = [], []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            kind, _, rest = line.partition(" ")
            if kind == "v":
                vertices.append([float(v) for v in rest.split()[:3]])
            elif kind == "f":
                faces.append([int(v.split("/")[0]) - 1 for v in rest.split()])
    return np.array(vertices, np.float64).reshape(-1, 3), np.array(faces, np.int64).reshape(-1, 3)


def ply_bytes(vertices, faces):
    """Binary little-endian PLY of a mesh [V, 3], [F, 3]."""
    vertices = np.asarray(vertices, "<f4")
    faces = np.asarray(faces, "<i4")
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\n"
              f"property float z\nelement face {len(faces)}\n"
              "property list uchar int vertex_indices\nend_header\n").encode("ascii")
    face_records = np.empty(len(faces), [("count", "u1"), ("indices", "<i4", (3,))])
    face_records["count"], face_records["indices"] = 3, faces
    return header + vertices.tobytes() + face_records.tobytes()


def draw_joints(image, joints_2d, radius=3):
    """A copy of the image uint8 [H, W, 3] with a disc per joint [J, 2] (pixels)."""
    image = np.ascontiguousarray(image).copy()
    for (u, v), colour in zip(np.asarray(joints_2d), encodings.joint_colours(len(joints_2d))):
        if np.isfinite(u) and np.isfinite(v):
            # OpenCV draws at integer pixel centres; ours are at k + 0.5.
            cv2.circle(image, (int(np.floor(u)), int(np.floor(v))), radius,
                       tuple(int(c) for c in colour), -1, cv2.LINE_AA)
    return image


def overlay_on_original(original, vertices, faces, transform):
    """The shaded mesh (rendered in the 512 crop) blended over the original image.

    The crop's rendering is warped back through the crop transform; images
    larger than MAX_ORIGINAL_SIDE are shrunk first. Returns (image, shrink factor).
    """
    height, width = original.shape[:2]
    shrink = min(1.0, MAX_ORIGINAL_SIDE / max(height, width))
    if shrink < 1.0:
        size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        original = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
        height, width = original.shape[:2]
    rendered, mask = render.render_shaded(vertices, faces, transform.size)
    # original_index + 0.5 = shrink ((crop_index + 0.5 - size/2) / scale + centre).
    s = shrink / transform.scale
    centre = np.array([transform.centre_x, transform.centre_y])
    offset = shrink * centre - s * transform.size / 2.0 + 0.5 * s - 0.5
    matrix = np.array([[s, 0.0, offset[0]], [0.0, s, offset[1]]])
    warped = cv2.warpAffine(rendered, matrix, (width, height), flags=cv2.INTER_LINEAR)
    warped_mask = cv2.warpAffine(mask.astype(np.float32), matrix, (width, height),
                                 flags=cv2.INTER_LINEAR)[..., None] * _OVERLAY_ALPHA
    blended = (1 - warped_mask) * original.astype(np.float32) + warped_mask * warped
    return blended.astype(np.uint8), shrink


def write_person(output_dir, person_id, result, index, faces, crop, original, transform):
    """Writes every file of person `index` of a Predictor result (with vertices).

    crop: the network's input as an RGB image (the 512 crop or the part map);
    original: the original RGB image (None: the crop is the original).
    """
    paths = person_paths(output_dir, person_id)
    vertices = result["vertices"][index]
    crop_size = crop.shape[0]
    joints_crop = result["joints_2d"][index] * crop_size / constants.CROP_SIZE
    images.write_png(paths["crop"], crop)
    images.write_png(paths["parts"], render.colourise(result["part_labels"][index]))
    images.write_png(paths["overlay"], draw_joints(
        render.overlay(crop, vertices, faces, alpha=_OVERLAY_ALPHA), joints_crop))
    on_original, shrink = overlay_on_original(crop if original is None else original, vertices,
                                              faces, transform)
    images.write_png(paths["overlay_original"], draw_joints(
        on_original, result["joints_2d_original"][index] * shrink))
    files.atomic_write(paths["obj"], obj_text(vertices, faces))
    files.atomic_write(paths["ply"], ply_bytes(vertices, faces))
    files.atomic_write(paths["body_pkl"], pickle.dumps(body_dict(result, index), protocol=2))
    buffer = io.BytesIO()
    np.savez(buffer, **{key: value[index] for key, value in result.items()}, faces=faces)
    files.atomic_write(paths["npz"], buffer.getvalue())
    return paths
