"""The files written for every person, each atomically (complete or absent).

In `<output_dir>/images/`, for the person `<id>`:

  <id>_crop.png             the network's input: the 512 crop, or the part map as given
  <id>_parts.png            the part map (stage 1's labels coloured, or the fitting input)
  <id>_overlay.png          the shaded mesh and the projected joints over the crop
  <id>_overlay_original.png the same over the original image (at most 1024 px wide or high)
  <id>_landmarks.png        the 14 landmarks of the keypoints (or detections) on the crop,
                            when there were keypoints (`landmarks_path`)
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
from neural_body_fitting.serving import crops
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


def landmarks_path(output_dir, person_id):
    """The person's `<id>_landmarks.png`, written only for people found by keypoints."""
    return os.path.join(output_dir, IMAGES_DIR, f"{person_id}_landmarks.png")


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
    vertices, faces = np.asarray(vertices, np.float64), np.asarray(faces, np.int64)
    # One formatting call for the whole mesh (20x faster than a line at a
    # time), on Python numbers (formatting NumPy scalars is 2-3x slower).
    return (("v %.6f %.6f %.6f\n" * len(vertices)) % tuple(vertices.ravel().tolist())
            + ("f %d %d %d\n" * len(faces)) % tuple((faces + 1).ravel().tolist()))


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


def draw_landmarks(crop, landmarks14, transform, min_confidence=0.1):
    """The crop uint8 [S, S, 3] with the confident ones of landmarks [14, 3] (x, y,
    confidence in the original image) drawn in the joint map's colours."""
    points = transform.to_crop(landmarks14[:, :2])
    points[landmarks14[:, 2] < min_confidence] = np.nan
    return draw_joints(crop, points, radius=4)


def _shrink(image):
    """The factor (<= 1) that fits an image into MAX_ORIGINAL_SIDE."""
    return min(1.0, MAX_ORIGINAL_SIDE / max(image.shape[:2]))


def _rendering_resolution(views):
    """The resolution of a crop-frame rendering that each (image, transform) view shows unblurred.

    A view shows the crop's `transform.size` pixels as size / scale image
    pixels (after `_shrink`); more than the crop's own resolution is never rendered.
    """
    needed = max(_shrink(image) * transform.size / transform.scale for image, transform in views)
    return int(min(constants.CROP_SIZE, np.ceil(needed)))


def overlay_rendering(image, rendered, mask, transform):
    """A mesh rendered in the crop frame (image, mask [R, R]) blended over another image of it.

    The rendering is warped through the crop transform into `image` (the
    original, or the crop itself); images larger than MAX_ORIGINAL_SIDE are
    shrunk first. Returns (uint8 image, shrink factor).
    """
    shrink = _shrink(image)
    if shrink < 1.0:
        height, width = image.shape[:2]
        size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    height, width = image.shape[:2]
    # Rendering pixel j covers crop coordinates [j, j + 1) * size / R, so
    # image_index + 0.5 = shrink ((j + 0.5) size / R - size / 2) / scale + shrink centre.
    resolution = rendered.shape[0]
    s = shrink * transform.size / (resolution * transform.scale)
    centre = np.array([transform.centre_x, transform.centre_y])
    offset = shrink * centre - s * resolution / 2.0 + 0.5 * s - 0.5
    matrix = np.array([[s, 0.0, offset[0]], [0.0, s, offset[1]]])
    warped = cv2.warpAffine(rendered, matrix, (width, height), flags=cv2.INTER_LINEAR)
    weight = cv2.warpAffine(mask.astype(np.float32), matrix, (width, height),
                            flags=cv2.INTER_LINEAR)[..., None] * _OVERLAY_ALPHA
    blended = (1 - weight) * image.astype(np.float32) + weight * warped
    return blended.astype(np.uint8), shrink


def write_person(output_dir, person_id, result, index, faces, crop, original, transform,
                 landmarks14=None):
    """Writes every file of person `index` of a Predictor result (with vertices).

    crop: the network's input as an RGB image (the 512 crop or the part map);
    original: the original RGB image (None: the crop is the original);
    landmarks14: [14, 3] the person's landmarks in the original, or None.
    """
    paths = person_paths(output_dir, person_id)
    vertices = result["vertices"][index]
    size = crop.shape[0]
    crop_frame = crops.CropTransform(constants.CROP_SIZE / size, size / 2.0, size / 2.0)
    original = crop if original is None else original
    # Rendered once in the crop frame, only as fine as the overlays show it
    # (a 224 part map needs 224, not 512), and warped onto both.
    resolution = _rendering_resolution([(crop, crop_frame), (original, transform)])
    rendered, mask = render.render_shaded(vertices, faces, resolution)
    images.write_png(paths["crop"], crop)
    # What the fitting network read: the part map, or the drawn landmarks.
    images.write_png(paths["parts"], result["joint_map"][index] if "joint_map" in result
                     else encodings.colourise(result["part_labels"][index]))
    on_crop, _ = overlay_rendering(crop, rendered, mask, crop_frame)
    images.write_png(paths["overlay"], draw_joints(
        on_crop, crop_frame.to_original(result["smpl_joints_2d"][index])))
    on_original, shrink = overlay_rendering(original, rendered, mask, transform)
    images.write_png(paths["overlay_original"], draw_joints(
        on_original, result["smpl_joints_2d_original"][index] * shrink))
    if landmarks14 is not None:
        images.write_png(landmarks_path(output_dir, person_id),
                         draw_landmarks(crop, landmarks14, transform))
    files.atomic_write(paths["obj"], obj_text(vertices, faces))
    files.atomic_write(paths["ply"], ply_bytes(vertices, faces))
    files.atomic_write(paths["body_pkl"], pickle.dumps(body_dict(result, index), protocol=2))
    buffer = io.BytesIO()
    np.savez(buffer, **{key: value[index] for key, value in result.items()}, faces=faces)
    files.atomic_write(paths["npz"], buffer.getvalue())
    return paths
