"""The original's metrics for one sample, in NumPy (rotations through `geometry`).

  err_joints3D   mean Euclidean distance of the 24 SMPL joints (mm)
  recon_err      the same after a per-frame similarity Procrustes alignment (mm)
  pckh           fraction of 2D landmarks within half the head size
  err_quat       mean over joints of acos(2<q, q'>² - 1) between predicted and
                 true rotations (radians)
"""
import numpy as np

from neural_body_fitting import geometry


def procrustes_align(prediction, target):
    """Similarity-aligns prediction [N, 3] to target [N, 3] (least squares); returns [N, 3]."""
    mu_p, mu_t = prediction.mean(0), target.mean(0)
    p, t = prediction - mu_p, target - mu_t
    u, s, vt = np.linalg.svd(p.T @ t)
    sign = np.sign(np.linalg.det(u @ vt))
    d = np.diag([1.0, 1.0, sign])
    rotation = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / max((p ** 2).sum(), 1e-12)
    return scale * p @ rotation + mu_t


def pckh(prediction_2d, target_2d, head):
    """Fraction of joints [N, 2] within half the head size (distance of `head` joints)."""
    size = np.linalg.norm(target_2d[head[0]] - target_2d[head[1]])
    return float(np.mean(np.linalg.norm(prediction_2d - target_2d, axis=1) <= 0.5 * size))


def sample_metrics(pred_joints, true_joints, pred_2d, true_2d, pred_rot, true_rot, head):
    """The four metrics of one sample (joints in metres; errors returned in mm)."""
    error = np.linalg.norm(pred_joints - true_joints, axis=1).mean() * 1000
    aligned = procrustes_align(pred_joints, true_joints)
    recon = np.linalg.norm(aligned - true_joints, axis=1).mean() * 1000
    quaternions = geometry.matrix_to_quaternion(np.stack([pred_rot, true_rot])).numpy()
    angle = geometry.quaternion_distance(quaternions[0], quaternions[1]).numpy().mean()
    return {"err_joints3D": error, "recon_err": recon, "pckh": pckh(pred_2d, true_2d, head),
            "err_quat": float(angle)}


def quartile_ids(ids, errors):
    """Sample ids at the 0, 25, 50, 75 and 100th percentile of `errors`."""
    order = np.argsort(errors)
    positions = np.round(np.linspace(0, len(order) - 1, 5)).astype(int)
    return {f"q{25 * k}": ids[order[p]] for k, p in enumerate(positions)}
