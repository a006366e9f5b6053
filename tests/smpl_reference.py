"""An independent float64 NumPy SMPL, written from the published equations for tests.

It shares no code with `neural_body_fitting`: explicit loops over joints, 4x4
homogeneous transforms, Rodrigues' formula written out. Clarity over speed.
(Loper, Mahmood, Romero, Pons-Moll, Black: "SMPL: A Skinned Multi-Person
Linear Model", SIGGRAPH Asia 2015, equations 1-4.)
"""
import numpy as np


def rodrigues(axis_angle):
    """[3] axis-angle -> [3, 3] rotation matrix."""
    angle = np.linalg.norm(axis_angle)
    if angle == 0.0:
        return np.eye(3)
    kx, ky, kz = np.asarray(axis_angle) / angle
    cross = np.array([[0.0, -kz, ky], [kz, 0.0, -kx], [-ky, kx, 0.0]])
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


def absolute_rotations(relative, parents):
    """[24, 3, 3] rotations relative to the parent -> global rotations, by a loop."""
    result = np.zeros_like(relative)
    for joint in range(len(parents)):
        if parents[joint] < 0:
            result[joint] = relative[joint]
        else:
            result[joint] = result[parents[joint]] @ relative[joint]
    return result


def _homogeneous(rotation, translation):
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix


def smpl_forward(v_template, shapedirs, posedirs, J_regressor, weights, parents, betas, pose,
                 translation=None):
    """One body. pose: [72] axis-angle or [24, 3, 3] relative rotations.

    Returns {'vertices' [V, 3], 'joints' [24, 3], 'rest_joints' [24, 3]}.
    """
    betas = np.asarray(betas, np.float64)
    pose = np.asarray(pose, np.float64)
    if pose.shape == (72,):
        rotations = np.stack([rodrigues(pose[3 * j:3 * j + 3]) for j in range(24)])
    else:
        rotations = pose
    num_betas = betas.shape[0]
    shaped = v_template + np.einsum("vcs,s->vc", shapedirs[:, :, :num_betas], betas)
    rest_joints = J_regressor @ shaped
    feature = np.concatenate([(rotations[j] - np.eye(3)).ravel() for j in range(1, 24)])
    posed_rest = shaped + np.einsum("vcp,p->vc", posedirs, feature)
    world = []
    for joint in range(24):
        parent = parents[joint]
        if parent < 0:
            local = _homogeneous(rotations[joint], rest_joints[joint])
            world.append(local)
        else:
            local = _homogeneous(rotations[joint], rest_joints[joint] - rest_joints[parent])
            world.append(world[parent] @ local)
    skinning = [world[j] @ _homogeneous(np.eye(3), -rest_joints[j]) for j in range(24)]
    blended = np.einsum("vj,jab->vab", weights, np.stack(skinning))  # [V, 4, 4]
    homogeneous = np.concatenate([posed_rest, np.ones((len(posed_rest), 1))], axis=1)
    vertices = np.einsum("vab,vb->va", blended, homogeneous)[:, :3]
    joints = np.stack([world[j][:3, 3] for j in range(24)])
    if translation is not None:
        vertices = vertices + translation
        joints = joints + translation
    return {"vertices": vertices, "joints": joints, "rest_joints": rest_joints}
