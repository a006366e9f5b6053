"""Specifications of the renderer against a brute-force z-buffer written here."""
import numpy as np
import pytest

from neural_body_fitting import constants, render


def icosphere(subdivisions=2):
    """Unit icosphere: vertices [V, 3], outward faces [F, 3]."""
    t = (1 + 5 ** 0.5) / 2
    vertices = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t),
                (0, -1, -t), (0, 1, -t), (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4),
             (11, 10, 2), (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8),
             (3, 8, 9), (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    vertices = [np.array(v, float) / np.linalg.norm(v) for v in vertices]
    for _ in range(subdivisions):
        midpoints, new_faces = {}, []

        def middle(a, b):
            key = (min(a, b), max(a, b))
            if key not in midpoints:
                point = vertices[a] + vertices[b]
                vertices.append(point / np.linalg.norm(point))
                midpoints[key] = len(vertices) - 1
            return midpoints[key]

        for a, b, c in faces:
            ab, bc, ca = middle(a, b), middle(b, c), middle(c, a)
            new_faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new_faces
    return np.array(vertices), np.array(faces)


def brute_force_labels(vertices, faces, face_labels, resolution):
    """Label of the nearest face at every pixel centre, by testing every face."""
    focal = constants.focal_length(resolution)
    projected = focal * vertices[:, :2] / vertices[:, 2:] + resolution / 2
    cols, rows = np.meshgrid(np.arange(resolution) + 0.5, np.arange(resolution) + 0.5)
    labels = np.zeros((resolution, resolution), np.uint8)
    depth = np.full((resolution, resolution), np.inf)
    for face, label in zip(faces, face_labels):
        (x0, y0), (x1, y1), (x2, y2) = projected[face]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if abs(area) < 1e-12:
            continue
        w1 = ((cols - x0) * (y2 - y0) - (x2 - x0) * (rows - y0)) / area
        w2 = ((x1 - x0) * (rows - y0) - (cols - x0) * (y1 - y0)) / area
        w0 = 1 - w1 - w2
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        # Perspective-correct depth: 1/z interpolates linearly in the image.
        inverse_z = (w0 / vertices[face[0], 2] + w1 / vertices[face[1], 2]
                     + w2 / vertices[face[2], 2])
        z = 1 / np.where(inside, inverse_z, 1e-12)
        nearer = inside & (z < depth)
        depth[nearer], labels[nearer] = z[nearer], label
    return labels


def boundary_pixels(labels):
    """Pixels with a 4-neighbour of another label."""
    padded = np.pad(labels, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    return ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
            | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))


def assert_matches_reference(vertices, faces, labels, resolution):
    rendered = render.render_label_map(vertices, faces, labels, resolution)
    expected = brute_force_labels(vertices, faces, labels, resolution)
    differ = rendered != expected
    assert differ.mean() <= 0.005, differ.mean()
    assert np.all(boundary_pixels(expected)[differ])
    return rendered


def two_spheres():
    sphere_v, sphere_f = icosphere(2)
    near = sphere_v * 0.5 + (0.3, 0.2, 18.0)
    far = sphere_v * 0.6 + (-0.3, -0.3, 22.0)
    vertices = np.concatenate([near, far])
    faces = np.concatenate([sphere_f, sphere_f + len(sphere_v)])
    labels = np.repeat([3, 9], len(sphere_f))
    return vertices, faces, labels


def test_overlapping_spheres_match_brute_force():
    vertices, faces, labels = two_spheres()
    rendered = assert_matches_reference(vertices, faces, labels, 96)
    assert {0, 3, 9} <= set(np.unique(rendered))


def test_noisy_closed_mesh_matches_brute_force():
    rng = np.random.default_rng(0)
    sphere_v, sphere_f = icosphere(3)
    vertices = sphere_v * (0.7 + 0.15 * rng.random((len(sphere_v), 1))) + (0.0, 0.0, 20.0)
    labels = rng.integers(1, 13, len(sphere_f))
    assert_matches_reference(vertices, sphere_f, labels, 80)


def test_occlusion_follows_depth():
    vertices, faces, labels = two_spheres()
    front = render.render_label_map(vertices, faces, labels, 64)
    swapped = render.render_label_map(vertices, faces, labels[::-1], 64)
    overlap = (front > 0) & (swapped > 0)
    # Where both spheres cover a pixel, swapping labels swaps what is seen.
    assert np.all((front[overlap] == 3) == (swapped[overlap] == 9))


def test_a_point_lands_in_the_pixel_the_camera_predicts():
    resolution = 64
    focal = constants.focal_length(resolution)
    for point in ([0.013, -0.021, 2.0], [-0.05, 0.08, 3.0]):
        point = np.array(point)
        u, v = focal * point[:2] / point[2] + resolution / 2
        size = 0.01 * point[2]
        triangle = point + np.array([[-size, -size, 0], [size, -size, 0], [0, size, 0]])
        labels = render.render_label_map(triangle, [[0, 1, 2]], [5], resolution)
        assert labels[int(np.floor(v)), int(np.floor(u))] == 5
        centroid = focal * triangle.mean(0)[:2] / point[2] + resolution / 2
        rows, cols = np.nonzero(labels)
        np.testing.assert_allclose([cols.mean() + 0.5, rows.mean() + 0.5], centroid, atol=0.3)


def test_depth_and_empty_and_behind_camera():
    vertices, faces, labels = two_spheres()
    depth = render.render_depth(vertices, faces, 64)
    mask = render.render_label_map(vertices, faces, labels, 64) > 0
    assert np.all(np.isinf(depth[~mask])) and np.all((depth[mask] > 17.4) & (depth[mask] < 22.7))
    assert not render.render_label_map(np.zeros((0, 3)), np.zeros((0, 3), int), [], 32).any()
    behind = vertices * (1, 1, -1)
    assert not render.render_label_map(behind, faces, labels, 32).any()


def test_shaded_render_and_overlay():
    vertices, faces, _ = two_spheres()
    image, mask = render.render_shaded(vertices, faces, 64)
    assert image.dtype == np.uint8 and mask.any() and not image[~mask].any()
    assert image[mask].max() > image[mask].min()  # Lambertian shading varies.
    photo = np.full((64, 64, 3), 40, np.uint8)
    blended = render.overlay(photo, vertices, faces)
    np.testing.assert_array_equal(blended[~mask], photo[~mask])
    assert np.any(blended[mask] != 40)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="face_labels"):
        render.render_label_map(np.zeros((3, 3)), [[0, 1, 2]], [0], 16)
    with pytest.raises(ValueError, match="faces"):
        render.render_label_map(np.zeros((3, 3)), [[0, 1, 5]], [1], 16)
