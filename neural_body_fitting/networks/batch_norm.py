"""Batch normalisation as one fused kernel, as TF-slim's `batch_norm` ran in the original.

Keras 3 writes batch norm as about 20 small ops forwards and 40 backwards per
layer: for ResNet-101's 104 layers over a third of a training step's graph,
each op traced, optimised and run every step. `FusedBatchNormalization` is
Keras' layer (same weights, names, moving-average rule and inference) whose
NHWC float16/bfloat16/float32 cases run TensorFlow's `FusedBatchNormV3`
kernel instead; the other cases (float64 reference tests, a synchronised
layer under several replicas, masks) keep Keras' own computation.

The moving variance follows Keras' rule (the batch's biased variance), not
the kernel's Bessel-corrected one, so that both paths keep the same statistics.
"""
import keras
import tensorflow as tf

_FUSED_DTYPES = (tf.float16, tf.bfloat16, tf.float32)


def fused_batch_norm(inputs, gamma, beta, mean, variance, epsilon, training):
    """x [B, H, W, C] normalised per channel by one kernel.

    Args:
      inputs: [B, H, W, C] float16, bfloat16 or float32.
      gamma, beta: [C] float32 scale and offset.
      mean, variance: [C] float32 moving statistics (used when not training).
      epsilon: added to the variance.
      training: normalise by the batch's moments (True) or the moving ones.
    Returns:
      (outputs [B, H, W, C] in the input's dtype, the batch mean [C] and biased
      batch variance [C], or the moving ones when not training).
    """
    outputs, batch_mean, batch_variance = tf.compat.v1.nn.fused_batch_norm(
        inputs, gamma, beta, mean=None if training else mean,
        variance=None if training else variance, epsilon=epsilon, is_training=training)[:3]
    if training:
        # The kernel reports the variance with Bessel's correction n / (n - 1).
        count = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], batch_variance.dtype)
        batch_variance = batch_variance * (count - 1.0) / tf.maximum(count, 1.0)
    return outputs, batch_mean, batch_variance


@keras.saving.register_keras_serializable(package="neural_body_fitting")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` run by one fused kernel where it can be."""

    def _fuses(self, inputs, mask):
        return (mask is None and not self.synchronized and not self.renorm
                and self.scale and self.center and len(inputs.shape) == 4
                and self.axis in (-1, 3) and inputs.dtype in _FUSED_DTYPES)

    def call(self, inputs, training=None, mask=None):
        if not self._fuses(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        training = bool(training) and self.trainable
        outputs, mean, variance = fused_batch_norm(
            inputs, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
            tf.cast(self.moving_mean, tf.float32), tf.cast(self.moving_variance, tf.float32),
            self.epsilon, training)
        if training:
            self.moving_mean.assign(self.moving_mean * self.momentum
                                    + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)
