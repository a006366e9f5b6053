"""Detector-like corruption of 2D landmarks, for the keypoint-driven fit.

A fitting network that reads joint maps (`joints14`) is trained on the
rendered body's exact landmarks, but at inference it reads a detector's
(`--mode=keypoints_fit`), which differ from the truth in three ways
(docs/detection.md measures them for BlazePose on synthetic renderings):

  jitter     every landmark off by a few pixels: Gaussian, per axis, with a
             standard deviation that is a fraction of the person's size (the
             longer side of the landmarks' bounding box, so that a lying person
             is not treated as a small one)
  swaps      left and right exchanged for the whole person (a body seen from
             behind looks like one seen from the front when the face does not
             show): the landmarks permuted by their left/right mirror
  drops      landmarks the detector does not report, each independently

`corrupt_landmarks` applies them in that order (a swapped person is jittered
and thinned like any other). A dropped landmark becomes NaN, which the joint
map leaves undrawn (`encodings.draw_joint_map`), as the serving path does with
an undetected one; landmarks outside the crop are not drawn either. The 2D
target of the loss stays the true landmarks: only the network's input is
corrupted. All randomness is stateless, from a seed tensor, so a sample's
corruption is reproducible and differs from epoch to epoch by its position.
"""
import dataclasses

import numpy as np

from neural_body_fitting.data import encodings


@dataclasses.dataclass(frozen=True)
class KeypointCorruption:
    """How strongly the input landmarks are corrupted (`config.data.keypoint_corruption`)."""

    jitter: float = 0.0     # Standard deviation per axis, as a fraction of the person's size.
    swap_rate: float = 0.0  # Probability that a person's left and right are exchanged.
    drop_rate: float = 0.0  # Probability that a landmark is missing.

    @classmethod
    def from_config(cls, config):
        group = config.data.keypoint_corruption
        return cls(float(group.jitter), float(group.swap_rate), float(group.drop_rate))

    @property
    def active(self):
        return bool(self.jitter or self.swap_rate or self.drop_rate)

    @property
    def tag(self):
        """'keypoints-j0.024-s0.1-d0.05' (names the files of an evaluation at this level);
        '' when nothing is corrupted."""
        if not self.active:
            return ""
        return f"keypoints-j{self.jitter:g}-s{self.swap_rate:g}-d{self.drop_rate:g}"


def person_size(landmarks_2d):
    """The longer side of the landmarks' bounding box: [..., L, 2] -> [...]."""
    import tensorflow as tf

    extent = tf.reduce_max(landmarks_2d, axis=-2) - tf.reduce_min(landmarks_2d, axis=-2)
    return tf.reduce_max(extent, axis=-1)


def corrupt_landmarks(seed, landmarks_2d, corruption):
    """One sample's corrupted landmarks (see the module docstring).

    Args:
      seed: int64 [2], the stateless seed of this sample.
      landmarks_2d: float32 [L, 2] true landmarks (pixels).
      corruption: a `KeypointCorruption`.
    Returns:
      float32 [L, 2]: swapped, jittered, and NaN where dropped.
    """
    import tensorflow as tf

    landmarks_2d = tf.convert_to_tensor(landmarks_2d, tf.float32)
    swap_seed, jitter_seed, drop_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    swapped = tf.random.stateless_uniform([], swap_seed) < corruption.swap_rate
    mirror = encodings.landmark_mirror(int(landmarks_2d.shape[0]))
    landmarks_2d = tf.where(swapped, tf.gather(landmarks_2d, mirror), landmarks_2d)
    noise = tf.random.stateless_normal(tf.shape(landmarks_2d), jitter_seed)
    landmarks_2d += corruption.jitter * person_size(landmarks_2d) * noise
    dropped = tf.random.stateless_uniform(tf.shape(landmarks_2d)[:1], drop_seed) < (
        corruption.drop_rate)
    return tf.where(dropped[:, None], tf.constant(np.nan, tf.float32), landmarks_2d)
