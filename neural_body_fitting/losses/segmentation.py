"""The segmenter's objective: softmax cross-entropy over the part classes.

Each sample contributes the mean cross-entropy over its pixels; the
replica's sum of these is divided by the number of samples in the global
batch, so, as for the fitting losses, the gradient does not depend on how
the batch is split across replicas. Weight decay is added by the trainer
(`losses.weight_decay`), as for the fitting network.
"""
import tensorflow as tf

from neural_body_fitting.losses import replicas

TERMS = ("cross_entropy",)


def cross_entropy(logits, labels):
    """Scalar loss of one replica's batch.

    Args:
      logits: [B, H, W, C] class scores (any float dtype; computed in float32).
      labels: [B, H, W] int class of every pixel, in 0..C - 1.
    """
    per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32))
    per_sample = tf.reduce_mean(per_pixel, axis=[1, 2])
    count = replicas.global_sum(tf.cast(tf.shape(per_sample)[0], tf.float32))
    return tf.reduce_sum(per_sample) / count
