"""Rasterising posed meshes with the original NBF camera, through OpenCV 5.

The camera is the original's (`geometry.project_points`): a pinhole at the
origin looking along +z, image x right and y down, u = f X / Z + c_x,
v = f Y / Z + c_y with f = 5000 px at 512 (scaled with the resolution) and
the principal point at the crop centre. Pixel (col, row) covers the
continuous coordinates [col, col + 1) x [row, row + 1), so a vertex
projecting to (u, v) lands in pixel (floor(u), floor(v)).

OpenCV's z-buffered `cv2.triangleRasterize*` uses OpenGL's camera axes
(y up, looking along -z) and flips the image vertically after rendering; a
rotation by π about x maps our camera onto it, and its vertical field of view
2 atan(H / 2f) reproduces our focal length. Labels are rendered as flat
per-face colours, so the nearest surface wins at every pixel.
"""
import cv2
import numpy as np

from neural_body_fitting import constants

_Z_NEAR, _Z_FAR = 0.05, 1000.0
# OpenCV stores depth through its normalised buffer, so untouched pixels come
# back slightly below zFar (about 998.8): anything this far is background.
_BACKGROUND_DEPTH = 0.5 * _Z_FAR
# Our camera axes (x right, y down, z forward) to OpenGL's (x right, y up, z back).
_TO_GL = np.array([1.0, -1.0, -1.0], np.float32)


def _settings(shading):
    settings = cv2.TriangleRasterizeSettings()
    settings.setShadingType(shading)
    settings.setCullingMode(cv2.RASTERIZE_CULLING_NONE)
    return settings


def _camera(resolution, focal_length):
    focal = constants.focal_length(resolution) if focal_length is None else focal_length
    fov_y = 2.0 * np.arctan(resolution / (2.0 * focal))
    return np.eye(4, dtype=np.float64), float(fov_y)


def _flat_triangles(vertices, faces):
    """Unshared per-face corners: [3F, 3] GL-space points and [F, 3] indices."""
    vertices = np.asarray(vertices, np.float32)
    faces = np.asarray(faces, np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"render: 'vertices' must have shape [V, 3], got {list(vertices.shape)}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"render: 'faces' must have shape [F, 3], got {list(faces.shape)}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"render: 'faces' must index the {len(vertices)} vertices")
    corners = (vertices[faces].reshape(-1, 3) * _TO_GL).astype(np.float32)
    indices = np.arange(corners.shape[0], dtype=np.int32).reshape(-1, 3)
    return corners, indices


def _rasterise_face_values(vertices, faces, face_values, resolution, focal_length):
    """Renders per-face values [F] or [F, 3] (flat shaded).

    Returns (values float32 [H, W] or [H, W, 3], 0 on the background; depth [H, W]).
    """
    corners, indices = _flat_triangles(vertices, faces)
    colour = np.zeros((resolution, resolution, 3), np.float32)
    depth = np.full((resolution, resolution), _Z_FAR, np.float32)
    face_values = np.asarray(face_values, np.float32)
    single = face_values.ndim == 1
    if len(indices):
        # Every corner of a face carries the face's value (flat shading copies it exactly).
        per_face = np.repeat(face_values[:, None], 3, axis=1) if single else face_values
        colours = np.repeat(per_face, 3, axis=0)
        world2cam, fov_y = _camera(resolution, focal_length)
        colour, depth = cv2.triangleRasterize(corners, indices, colours, colour, depth,
                                              world2cam, fov_y, _Z_NEAR, _Z_FAR,
                                              _settings(cv2.RASTERIZE_SHADING_FLAT))
    return (colour[..., 0] if single else colour), depth


def face_labels_from_vertex_labels(vertex_labels, faces):
    """Per-face labels [F] from per-vertex labels [V]: the label most of its corners have.

    Where all three corners differ, the first corner's label is used.
    """
    corner_labels = np.asarray(vertex_labels)[np.asarray(faces)]
    a, b, c = corner_labels.T
    return np.where(b == c, b, a)


def render_label_map(vertices, faces, face_labels, resolution=constants.CROP_SIZE,
                     focal_length=None):
    """Label map of a mesh: the label of the nearest face at every pixel.

    Args:
      vertices: [V, 3] points in camera coordinates (metres, z > 0 in front).
      faces: [F, 3] vertex indices.
      face_labels: [F] integer labels 1..255 (0 is the background).
      resolution: output size in pixels (square crop).
      focal_length: optional focal length in pixels (default: the original camera).
    Returns:
      uint8 [resolution, resolution] label map.
    """
    face_labels = np.asarray(face_labels)
    if face_labels.shape != (np.shape(faces)[0],):
        raise ValueError(f"render: 'face_labels' must have shape [{np.shape(faces)[0]}], "
                         f"got {list(face_labels.shape)}")
    if face_labels.size and (face_labels.min() < 1 or face_labels.max() > 255):
        raise ValueError("render: 'face_labels' must lie in 1..255")
    values, _ = _rasterise_face_values(vertices, faces, face_labels / 255.0, resolution,
                                       focal_length)
    return np.rint(values * 255.0).astype(np.uint8)


def render_depth(vertices, faces, resolution=constants.CROP_SIZE, focal_length=None):
    """Depth map float32 [H, W]: z of the nearest surface, +inf on the background."""
    corners, indices = _flat_triangles(vertices, faces)
    depth = np.full((resolution, resolution), _Z_FAR, np.float32)
    if len(indices):
        world2cam, fov_y = _camera(resolution, focal_length)
        depth = cv2.triangleRasterizeDepth(corners, indices, depth, world2cam, fov_y, _Z_NEAR,
                                           _Z_FAR, _settings(cv2.RASTERIZE_SHADING_FLAT))
    return np.where(depth > _BACKGROUND_DEPTH, np.inf, depth).astype(np.float32)


def _face_normals(corners):
    """Unit normals [F, 3] of the triangles with corners [F, 3, 3]."""
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def render_shaded(vertices, faces, resolution=constants.CROP_SIZE, colour=(0.75, 0.72, 0.7),
                  light_direction=(0.3, -0.5, -1.0), ambient=0.25, focal_length=None):
    """Lambertian flat-shaded mesh for visualisation and synthetic RGB images.

    Args:
      vertices, faces: the mesh in camera coordinates.
      colour: RGB albedo in [0, 1].
      light_direction: direction towards the light in camera coordinates.
      ambient: ambient fraction of the albedo.
    Returns:
      (uint8 [H, W, 3] RGB image, bool [H, W] mask of the body).
    """
    light = np.asarray(light_direction, np.float64)
    light = light / np.linalg.norm(light)
    corners = np.asarray(vertices, np.float64)[np.asarray(faces)]
    normals = _face_normals(corners)
    # Faces are lit on whichever side faces the camera (meshes may be open).
    facing = np.sign(-np.einsum("ij,ij->i", normals, corners.mean(1)))[:, None]
    lambert = np.clip(np.einsum("ij,j->i", normals * facing, light), 0.0, 1.0)
    intensity = (ambient + (1.0 - ambient) * lambert).astype(np.float32)
    # Each face's 8-bit colour is made before rasterising (flat shading copies
    # it, and float32 holds the integers exactly): no per-pixel arithmetic
    # after. The shade passes through float32 as when the rasteriser held it,
    # so the images stay bit-identical to the datasets made before.
    face_colours = np.floor(np.clip(intensity.astype(np.float64)[:, None]
                                    * np.asarray(colour)[None] * 255.0, 0, 255))
    image, depth = _rasterise_face_values(vertices, faces, face_colours, resolution,
                                          focal_length)
    return image.astype(np.uint8), depth <= _BACKGROUND_DEPTH


def overlay(image, vertices, faces, alpha=0.6, focal_length=None, **shading):
    """Blends the shaded mesh over an RGB image uint8 [H, W, 3] (square); returns uint8."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[0] != image.shape[1] or image.shape[2] != 3:
        raise ValueError(f"overlay: 'image' must be a square RGB image, got {image.shape}")
    focal = focal_length or constants.focal_length(image.shape[0])
    rendered, mask = render_shaded(vertices, faces, image.shape[0], focal_length=focal, **shading)
    blended = (1 - alpha) * image.astype(np.float32) + alpha * rendered.astype(np.float32)
    return np.where(mask[..., None], blended, image).astype(np.uint8)
