"""A procedurally generated human body model in SMPL's format and size.

SMPL is licensed, so the library carries its own body model: the same 24
joints, kinematic tree and axes (y up, facing +z, the body's left side +x),
a T-pose about 1.7 m tall, and a closed genus-0 triangle mesh of exactly 6890
vertices and 13776 faces like SMPL's. It is built in five steps:

1. `_body_sdf`: the body as a smooth union of round cones (limbs, neck) and
   ellipsoids (torso, head, hands, feet) around SMPL-like rest joints.
2. `_marching_tetrahedra`: its zero level set on a grid whose cubes are cut
   into six tetrahedra (mirrored for x < 0, so the mesh is exactly left/right
   symmetric); tetrahedra have no ambiguous cases, so the surface is a closed
   manifold. The grid spacing is searched so the mesh has just under 6890
   vertices.
3. `_split_to_count`: the longest edges are split, in mirror pairs, until
   there are exactly 6890 vertices (each split keeps the mesh closed).
4. `_relax`: tangential smoothing and projection back onto the surface.
5. Skinning weights (part labels diffused over the surface), a joint
   regressor (non-negative least squares: each joint a convex combination of
   nearby vertices), 10 shape blend shapes with named effects and pose
   correctives (bulges at bending joints), all exactly mirror-symmetric.

Same seed, bitwise same arrays; the seed varies proportions by a few percent.
"""
import dataclasses
import functools
import os
import sys

import numpy as np
import scipy
import scipy.optimize
import scipy.sparse

from neural_body_fitting import constants
from neural_body_fitting.body import body_model
from neural_body_fitting.utils import cache

NUM_VERTICES = 6890
NUM_FACES = 2 * NUM_VERTICES - 4  # Euler's formula for a closed genus-0 mesh.

# Rest joints of the left side and the midline (metres); right joints mirror them.
_REST_JOINTS = {
    0: (0.0, -0.23, 0.0), 1: (0.075, -0.31, -0.005), 3: (0.0, -0.12, -0.02),
    4: (0.095, -0.70, 0.0), 6: (0.0, 0.0, -0.01), 7: (0.09, -1.09, -0.035),
    9: (0.0, 0.07, 0.0), 10: (0.1, -1.155, 0.085), 12: (0.0, 0.275, -0.02),
    13: (0.075, 0.19, -0.01), 15: (0.0, 0.36, 0.01), 16: (0.18, 0.225, -0.02),
    18: (0.44, 0.215, -0.035), 20: (0.685, 0.215, -0.03), 22: (0.77, 0.205, -0.035),
}
SHAPE_COMPONENTS = (
    "stature", "girth", "leg_length", "arm_length", "shoulder_width", "hip_width",
    "head_size", "chest_depth", "belly", "limb_thickness",
)


def _rest_joints(seed):
    """[24, 3] rest joints, proportions varied by the seed (a few percent)."""
    joints = np.zeros((constants.NUM_JOINTS, 3))
    for joint, position in _REST_JOINTS.items():
        joints[joint] = position
    rng = np.random.default_rng(seed)
    if seed:
        joints[:, 1] = (joints[:, 1] + 0.23) * (1 + 0.03 * rng.uniform(-1, 1)) - 0.23
        joints[:, 0] *= 1 + 0.04 * rng.uniform(-1, 1)
    for joint in range(constants.NUM_JOINTS):
        mirror = constants.MIRROR_JOINTS[joint]
        if mirror != joint and joint not in _REST_JOINTS:
            joints[joint] = joints[mirror] * (-1, 1, 1)
    return joints


# --- 1. The implicit body ------------------------------------------------------------


def _round_cone(points, start, end, r_start, r_end):
    """Signed distance (approximately) to a capsule whose radius varies linearly."""
    axis = np.asarray(end) - start
    t = np.clip((points - start) @ axis / (axis @ axis), 0.0, 1.0)
    closest = start + t[..., None] * axis
    return np.linalg.norm(points - closest, axis=-1) - (r_start + t * (r_end - r_start))


def _ellipsoid(points, centre, radii):
    """Signed distance (approximately: scaled by the mean radius) to an ellipsoid."""
    scaled = np.linalg.norm((points - centre) / radii, axis=-1)
    return (scaled - 1.0) * np.mean(radii)


def _smooth_union(a, b, k):
    """Polynomial smooth minimum: blends two distance fields over a width k."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _body_primitives(joints):
    """The body's parts as (distance function, blend width) of the left half and midline.

    Each part is blended into the union of the previous ones with its blend
    width: wide for the torso pieces (one smooth trunk), narrow for limbs.
    """
    j = joints
    top = j[15] + (0, 0.19, 0.0)  # Crown of the head.
    return [
        (lambda p: _ellipsoid(p, j[0] + (0, -0.03, -0.01), (0.165, 0.13, 0.115)), 0.0),
        (lambda p: _ellipsoid(p, j[3] + (0, 0.03, 0.02), (0.15, 0.15, 0.105)), 0.1),
        (lambda p: _ellipsoid(p, j[9] + (0, -0.01, 0.025), (0.17, 0.17, 0.115)), 0.1),
        (lambda p: _round_cone(p, j[13] + (-0.04, -0.015, -0.01), j[16] + (0, -0.005, 0),
                               0.07, 0.058), 0.08),
        (lambda p: _round_cone(p, j[12] + (0, -0.06, 0), j[15], 0.058, 0.052), 0.05),
        (lambda p: _ellipsoid(p, 0.5 * (j[15] + top) + (0, -0.01, 0.025), (0.083, 0.115, 0.1)),
         0.03),
        (lambda p: _round_cone(p, j[16], j[18], 0.056, 0.041), 0.04),
        (lambda p: _round_cone(p, j[18], j[20], 0.041, 0.029), 0.02),
        (lambda p: _ellipsoid(p, j[22] + (0.015, 0.0, 0.01), (0.085, 0.024, 0.045)), 0.02),
        (lambda p: _round_cone(p, j[1] + (0, 0.02, 0), j[4], 0.088, 0.056), 0.05),
        (lambda p: _round_cone(p, j[4], j[7], 0.056, 0.036), 0.03),
        (lambda p: _ellipsoid(p, 0.5 * (j[7] + j[10]) + (0, -0.03, 0.015),
                              (0.046, 0.04, 0.125)), 0.03),
    ]


def _body_sdf(joints):
    """f(points [N, 3]) -> [N] negative inside the body, symmetric in x bit for bit."""
    primitives = _body_primitives(joints)

    def sdf(points):
        # Evaluating at |x| makes the field symmetric by construction.
        folded = np.concatenate([np.abs(points[:, :1]), points[:, 1:]], axis=1)
        value = primitives[0][0](folded)
        for primitive, blend in primitives[1:]:
            value = _smooth_union(value, primitive(folded), blend)
        return value

    return sdf


def _sdf_gradient(sdf, points, step=1e-4):
    """Central differences: [N, 3] -> [N, 3]."""
    offsets = np.eye(3) * step
    return np.stack([(sdf(points + o) - sdf(points - o)) / (2 * step) for o in offsets], -1)


# --- 2. Marching tetrahedra ------------------------------------------------------------

# Six tetrahedra around the cube diagonal (0,0,0)-(1,1,1), one per axis order.
_CUBE_TETS = np.array([
    [(0, 0, 0), tuple(np.eye(3, dtype=int)[order[0]]),
     tuple(np.eye(3, dtype=int)[order[0]] + np.eye(3, dtype=int)[order[1]]), (1, 1, 1)]
    for order in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
])


def _marching_tetrahedra(sdf, spacing, bounds):
    """Closed triangle mesh of {sdf = 0}, exactly mirror-symmetric in x.

    Args:
      sdf: f(points [N, 3]) -> [N], negative inside.
      spacing: grid spacing (metres).
      bounds: ((x_lo, x_hi), (y_lo, y_hi), (z_lo, z_hi)); x is made symmetric.
    Returns:
      vertices [V, 3], faces [F, 3] (outward), mirror [V] (the mirrored vertex).
    """
    half_x = int(np.ceil(bounds[0][1] / spacing))
    axes = [np.arange(-half_x, half_x + 1) * spacing] + [
        np.arange(np.floor(lo / spacing), np.ceil(hi / spacing) + 1) * spacing
        for lo, hi in bounds[1:]]
    shape = tuple(len(a) for a in axes)
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    values = sdf(grid)
    values[values == 0] = 1e-12  # The level set must not pass through grid points.
    index = np.arange(grid.shape[0]).reshape(shape)
    cubes = np.stack(np.meshgrid(*[np.arange(n - 1) for n in shape], indexing="ij"),
                     -1).reshape(-1, 1, 1, 3)
    # Cubes left of x = 0 use the mirrored tetrahedra, so the two halves mirror.
    left = (axes[0][cubes[..., 0]] < 0)[..., None]
    corners = cubes + np.where(left, _CUBE_TETS * (-1, 1, 1) + (1, 0, 0), _CUBE_TETS)
    tets = index[corners[..., 0], corners[..., 1], corners[..., 2]].reshape(-1, 4)
    inside = values[tets] < 0
    count = inside.sum(1)
    keep = (count > 0) & (count < 4)
    tets, inside, count = tets[keep], inside[keep], count[keep]
    # Sort each tetrahedron's corners inside-first: [in..., out...].
    order = np.argsort(~inside, axis=1, kind="stable")
    tets = np.take_along_axis(tets, order, axis=1)
    one_in, three_in, two_in = tets[count == 1], tets[count == 3], tets[count == 2]
    edges = np.concatenate([
        np.stack([one_in[:, [0, 0, 0]], one_in[:, 1:]], -1),          # lone inside corner
        np.stack([three_in[:, :3], three_in[:, [3, 3, 3]]], -1),      # lone outside corner
        np.stack([two_in[:, [0, 0, 1]], two_in[:, [2, 3, 3]]], -1),   # quad, first half
        np.stack([two_in[:, [0, 1, 1]], two_in[:, [2, 3, 2]]], -1),   # quad, second half
    ])  # [F, 3 edges, (inside, outside) grid points]
    keys, faces = np.unique(np.sort(edges, -1).reshape(-1, 2), axis=0, return_inverse=True)
    faces = faces.reshape(-1, 3)
    va, vb = values[keys[:, 0]], values[keys[:, 1]]
    t = (va / (va - vb))[:, None]
    vertices = grid[keys[:, 0]] + t * (grid[keys[:, 1]] - grid[keys[:, 0]])
    outward = grid[edges[:, :, 1]].mean(1) - grid[edges[:, :, 0]].mean(1)
    normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                       vertices[faces[:, 2]] - vertices[faces[:, 0]])
    flip = np.einsum("ij,ij->i", normals, outward) < 0
    faces[flip] = faces[flip][:, ::-1]
    # A vertex's mirror lies on the mirrored grid edge.
    mirrored_index = index[::-1].reshape(-1)
    mirror_keys = np.sort(mirrored_index[keys], -1)
    lookup = {tuple(k): i for i, k in enumerate(keys.tolist())}
    mirror = np.array([lookup[tuple(k)] for k in mirror_keys.tolist()])
    return vertices, faces, mirror


def _mesh_with_at_most(sdf, count, bounds):
    """Marching tetrahedra at the finest grid spacing that gives <= count vertices."""
    low, high = 0.025, 0.045  # Spacing (m): too many vertices at `low`, too few at `high`.
    best = None
    for _ in range(9):
        spacing = 0.5 * (low + high)
        mesh = _marching_tetrahedra(sdf, spacing, bounds)
        if len(mesh[0]) <= count:
            best, high = mesh, spacing
        else:
            low = spacing
    return best


# --- 3. Exact vertex count by edge splits ------------------------------------------------


def _split_to_count(vertices, faces, mirror, count):
    """Splits the longest edges, in mirror pairs, until there are `count` vertices.

    Splitting edge (a, b) with faces (a, b, c) and (b, a, d) inserts its
    midpoint n and four faces (a, n, c), (n, b, c), (b, n, d), (n, a, d): the
    mesh stays closed and consistently oriented. Edges on the symmetry plane
    are their own mirror and add one vertex; all others split with their mirror.
    """
    import heapq

    vertices = list(map(tuple, vertices))
    mirror = list(mirror)
    faces = [list(face) for face in faces]
    face_of = {}  # Directed edge -> index of the face it belongs to.
    for index, face in enumerate(faces):
        for k in range(3):
            face_of[(face[k], face[(k + 1) % 3])] = index

    def length(edge):
        return float(np.linalg.norm(np.subtract(vertices[edge[0]], vertices[edge[1]])))

    heap = [(-length(edge), edge) for edge in face_of if edge[0] < edge[1]]
    heapq.heapify(heap)

    def register(index):
        face = faces[index]
        for k in range(3):
            face_of[(face[k], face[(k + 1) % 3])] = index

    def split(a, b):
        new = len(vertices)
        vertices.append(tuple(0.5 * (np.array(vertices[a]) + vertices[b])))
        mirror.append(new)
        touched = [a, b]
        for first, second in ((a, b), (b, a)):
            index = face_of.pop((first, second))
            face = faces[index]
            opposite = face[(face.index(first) + 2) % 3]
            faces[index] = [first, new, opposite]
            faces.append([new, second, opposite])
            register(index)
            register(len(faces) - 1)
            touched.append(opposite)
        for other in touched:
            edge = (min(new, other), max(new, other))
            heapq.heappush(heap, (-length(edge), edge))
        return new

    while len(vertices) < count:
        _, (a, b) = heapq.heappop(heap)
        if (a, b) not in face_of:
            continue  # Already split.
        partner = (mirror[a], mirror[b])
        self_mirror = set(partner) == {a, b}
        if not self_mirror and len(vertices) + 2 > count:
            continue  # One vertex left to add: only a symmetry-plane edge fits.
        new = split(a, b)
        if not self_mirror:
            new_partner = split(*partner)
            mirror[new], mirror[new_partner] = new_partner, new
    return np.array(vertices), np.array(faces), np.array(mirror)


# --- 4. Smoothing ------------------------------------------------------------------------

_MIRROR = np.array([-1.0, 1.0, 1.0])


def _symmetrise(values, mirror, reflect):
    """Average per-vertex values [V, ...] with their mirror images; exact symmetry results."""
    return 0.5 * (values + reflect(values[mirror]))


def _adjacency(faces, count):
    """Row-normalised vertex adjacency as a sparse [V, V] matrix."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    matrix = scipy.sparse.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                                     shape=(count, count)).tocsr()
    matrix = ((matrix + matrix.T) > 0).astype(np.float64)
    return scipy.sparse.diags(1.0 / np.asarray(matrix.sum(1)).ravel()) @ matrix


def _vertex_normals(vertices, faces):
    """Area-weighted unit normals [V, 3]."""
    face_normals = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]],
                            vertices[faces[:, 2]] - vertices[faces[:, 0]])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _relax(vertices, faces, mirror, sdf, iterations=10):
    """Tangential Laplacian smoothing with projection back onto {sdf = 0}."""
    average = _adjacency(faces, len(vertices))
    for _ in range(iterations):
        normals = _vertex_normals(vertices, faces)
        move = average @ vertices - vertices
        move -= np.einsum("ij,ij->i", move, normals)[:, None] * normals
        vertices = vertices + 0.6 * move
        for _ in range(2):  # Newton steps onto the level set.
            gradient = _sdf_gradient(sdf, vertices)
            vertices = vertices - (sdf(vertices) / np.einsum("ij,ij->i", gradient, gradient)
                                   )[:, None] * gradient
        vertices = _symmetrise(vertices, mirror, lambda v: v * _MIRROR)
    return vertices


# --- 5. Parts, weights, regressor, blend shapes ----------------------------------------------

# Each joint's bone (the body segment it moves) ends at this joint, or at a
# fixed offset from its own position; the radius normalises distances so thick
# and thin parts compete fairly.
# The upper-chest bone stops below the neck base and the neck's radius is
# generous, so that the neck gets its own band of vertices as in SMPL.
_BONE_END = {0: 3, 3: 6, 6: 9, 12: 15, 1: 4, 4: 7, 7: 10, 13: 16, 16: 18, 18: 20, 20: 22}
_BONE_TIP = {9: (0.0, 0.08, 0.0), 15: (0.0, 0.17, 0.02), 10: (0.0, -0.01, 0.08),
             22: (0.08, 0.0, 0.0)}
_BONE_RADIUS = {0: 0.14, 3: 0.145, 6: 0.145, 9: 0.15, 12: 0.08, 15: 0.09, 1: 0.08, 4: 0.05,
                7: 0.045, 10: 0.04, 13: 0.07, 16: 0.055, 18: 0.038, 20: 0.03, 22: 0.03}


def _bones(joints):
    """Segments [24, 2, 3] and radii [24] of every joint's bone (right side mirrored)."""
    segments = np.zeros((constants.NUM_JOINTS, 2, 3))
    radii = np.zeros(constants.NUM_JOINTS)
    for joint, radius in _BONE_RADIUS.items():
        end = joints[_BONE_END[joint]] if joint in _BONE_END else joints[joint] + _BONE_TIP[joint]
        segments[joint] = joints[joint], end
        radii[joint] = radius
        mirror = constants.MIRROR_JOINTS[joint]
        segments[mirror] = segments[joint] * _MIRROR
        radii[mirror] = radius
    return segments, radii


def _closest_on_bones(vertices, segments):
    """Closest points [V, 24, 3] of every vertex on every bone segment."""
    start, axis = segments[:, 0], segments[:, 1] - segments[:, 0]
    t = np.einsum("vjc,jc->vj", vertices[:, None] - start, axis) / np.einsum("jc,jc->j", axis,
                                                                               axis)
    return start + np.clip(t, 0, 1)[..., None] * axis


def _part_labels(vertices, mirror, segments, radii):
    """SMPL part 0..23 of every vertex: the bone nearest relative to its radius."""
    closest = _closest_on_bones(vertices, segments)
    score = np.linalg.norm(vertices[:, None] - closest, axis=-1) / radii
    midline = mirror == np.arange(len(vertices))
    score[midline[:, None] & (constants.MIRROR_JOINTS != np.arange(24))[None]] = np.inf
    labels = np.argmin(score, axis=1)
    left = vertices[:, 0] < 0
    labels[left] = constants.MIRROR_JOINTS[labels[mirror[left]]]
    return labels, closest[np.arange(len(vertices)), labels]


def _skinning_weights(labels, faces, mirror, iterations=8):
    """One-hot part labels diffused over the surface: smooth, rows sum to 1."""
    weights = np.eye(constants.NUM_JOINTS)[labels]
    average = _adjacency(faces, len(labels))
    for _ in range(iterations):
        weights = 0.5 * (weights + average @ weights)
    return _symmetrise(weights, mirror, lambda w: w[:, constants.MIRROR_JOINTS])


def _joint_regressor(vertices, mirror, joints, segments, radii):
    """[24, V] rows of non-negative weights summing to 1 that reproduce the joints.

    Each joint is regressed from a ring of vertices: those within 2 cm of the
    plane through the joint across its bone and within a few bone radii of it.
    A small non-negative least-squares problem (with an exact-sum row and a
    ridge term that spreads the weights) places the joint at the rest position;
    then rows are made mirror-symmetric.
    """
    regressor = np.zeros((constants.NUM_JOINTS, len(vertices)))
    for joint in range(constants.NUM_JOINTS):
        if joints[joint, 0] < 0:
            continue  # Right joints mirror left ones below.
        axis = segments[joint, 1] - segments[joint, 0]
        axis /= np.linalg.norm(axis)
        offset = vertices - joints[joint]
        ring = np.flatnonzero((np.abs(offset @ axis) < 0.02)
                              & (np.linalg.norm(offset, axis=1) < 2.5 * radii[joint]))
        system = np.vstack([vertices[ring].T, 100.0 * np.ones((1, len(ring))),
                            0.02 * np.eye(len(ring))])
        target = np.concatenate([joints[joint], [100.0], np.zeros(len(ring))])
        weights, _ = scipy.optimize.nnls(system, target)
        regressor[joint, ring] = weights / weights.sum()
    for joint in range(constants.NUM_JOINTS):
        partner = constants.MIRROR_JOINTS[joint]
        if joints[joint, 0] < 0:
            regressor[joint, mirror] = regressor[partner]
        elif partner == joint:
            regressor[joint] = 0.5 * (regressor[joint] + regressor[joint, mirror])
    return regressor


def _part_weight(weights, joints):
    """Summed skinning weight [V] of the given joints and their mirrors."""
    joints = sorted(set(joints) | set(constants.MIRROR_JOINTS[list(joints)]))
    return weights[:, joints].sum(1)


def _shape_directions(vertices, weights, radial, joints):
    """[V, 3, 10] shape blend shapes, one per entry of SHAPE_COMPONENTS (metres per unit)."""
    x, y, z = vertices.T
    side = np.sign(x)
    legs = _part_weight(weights, [1, 4, 7, 10])
    arms = _part_weight(weights, [16, 18, 20, 22])
    girdle = arms + _part_weight(weights, [13])
    head = weights[:, 15]
    trunk = _part_weight(weights, [0, 3, 6, 9])
    chest = _part_weight(weights, [6, 9, 13])
    hip_y, feet_y = joints[1, 1], y.min()
    head_centre = joints[15] + (0, 0.09, 0.02)
    zero = np.zeros_like(x)
    directions = [
        np.stack([zero, 0.026 * (y - feet_y), zero], -1),                       # stature
        radial * (0.35 * trunk + 0.15 * (arms + legs))[:, None],                # girth
        np.stack([zero, 0.04 * legs * (y - hip_y) / (hip_y - feet_y), zero], -1),  # legs
        np.stack([0.035 * arms * (x - side * joints[16, 0]) / 0.6, zero, zero], -1),  # arms
        np.stack([0.02 * side * girdle, zero, zero], -1),                       # shoulders
        np.stack([0.1 * x * (weights[:, 0] + 0.5 * weights[:, 3]) + 0.012 * side * legs,
                  zero, zero], -1),                                             # hips
        0.06 * head[:, None] * (vertices - head_centre),                        # head size
        np.stack([zero, zero, 0.08 * chest * (z - joints[9, 2])], -1),          # chest depth
        np.stack([zero, zero, 0.03 * _part_weight(weights, [0, 3, 6]) * np.clip(z / 0.1, 0, 1)],
                 -1),                                                           # belly
        radial * (0.25 * (arms + legs))[:, None],                               # limbs
    ]
    return np.stack(directions, -1)


def _pose_directions(weights, normals, parents):
    """[V, 3, 207] pose correctives: bulges along the normal where a joint bends.

    A joint j bent by θ pushes the vertices of its blend zone (where both its
    weight and its parent's are large) outwards by up to 1.5 cm · (1 - cos θ).
    Since tr(R - I) = -2 (1 - cos θ), each diagonal entry of (R_j - I) drives
    -1/2 of that offset; the other entries drive nothing.
    """
    directions = np.zeros(normals.shape + (constants.NUM_POSE_BLEND,))
    for joint in range(1, constants.NUM_JOINTS):
        zone = 4.0 * weights[:, joint] * weights[:, parents[joint]]
        for axis in range(3):
            column = (joint - 1) * 9 + 4 * axis
            directions[:, :, column] = -0.5 * 0.015 * zone[:, None] * normals
    return directions


@functools.lru_cache(maxsize=4)
def synthetic_body_model(seed=0):
    """The built-in SMPL-format body model (see the module docstring).

    Building it takes about 2 s, so it is built once per machine and code: the
    arrays are kept in the cache folder ($NBF_CACHE/synthetic_body) under a key
    of this module's source, and a missing, damaged or unwritable file only
    means it is built again.

    Returns:
      A BodyModel with 6890 vertices, 13776 faces, 10 shape components and
      mirror_vertex_ids; its arrays are read-only (the result is cached).
    """
    path = cached_model_path(seed)
    model = _read_cached_model(path, seed)
    if model is None:
        model = build_synthetic_body_model(seed)
        try:
            body_model.save_body_model(model, path)
        except OSError:
            pass  # A read-only or full cache: the next process builds it again.
    for field in dataclasses.fields(model):
        value = getattr(model, field.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return model


def cached_model_path(seed, environ=None):
    """Where the cache keeps the model of `seed` built by this code, NumPy and SciPy."""
    key = cache.source_key([sys.modules[__name__], constants, body_model], seed,
                           np.__version__, scipy.__version__)
    return os.path.join(cache.folder("synthetic_body", environ), f"seed{seed}_{key}.npz")


def _read_cached_model(path, seed):
    """The cached model at `path` named as built, or None if it is missing or unreadable."""
    try:
        model = body_model.load_body_model(path)
    except (OSError, ValueError):  # FileNotFoundError when it is missing.
        return None
    return dataclasses.replace(model, name=f"{body_model.SYNTHETIC}:{seed}")


def build_synthetic_body_model(seed=0):
    """The synthetic body model of `seed`, built from nothing (no cache)."""
    joints = _rest_joints(seed)
    sdf = _body_sdf(joints)
    bounds = ((-1.0, 1.0), (-1.3, 0.65), (-0.22, 0.3))
    vertices, faces, mirror = _mesh_with_at_most(sdf, NUM_VERTICES, bounds)
    vertices, faces, mirror = _split_to_count(vertices, faces, mirror, NUM_VERTICES)
    vertices = _relax(vertices, faces, mirror, sdf)
    segments, radii = _bones(joints)
    labels, on_bone = _part_labels(vertices, mirror, segments, radii)
    weights = _skinning_weights(labels, faces, mirror)
    regressor = _joint_regressor(vertices, mirror, joints, segments, radii)
    radial = _symmetrise(vertices - on_bone, mirror, lambda v: v * _MIRROR)
    shapedirs = _symmetrise(_shape_directions(vertices, weights, radial, joints), mirror,
                            lambda d: d * _MIRROR[:, None])
    normals = _symmetrise(_vertex_normals(vertices, faces), mirror, lambda n: n * _MIRROR)
    posedirs = _pose_directions(weights, normals, constants.SMPL_PARENTS)
    midline = np.flatnonzero(mirror == np.arange(NUM_VERTICES))
    head_top = midline[np.argmax(vertices[midline, 1])]
    neck_target = regressor[12] @ vertices + (0, -0.03, 0.06)
    neck = midline[np.argmin(np.linalg.norm(vertices[midline] - neck_target, axis=1))]
    model = body_model.make_body_model(
        v_template=vertices, shapedirs=shapedirs, posedirs=posedirs, J_regressor=regressor,
        weights=weights, parents=constants.SMPL_PARENTS, faces=faces, part24=labels,
        landmark_vertex_ids=[neck, head_top], mirror_vertex_ids=mirror,
        name=f"{body_model.SYNTHETIC}:{seed}")
    return model
