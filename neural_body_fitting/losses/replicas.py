"""Reductions across the replicas of a tf.distribute strategy, for losses."""
import tensorflow as tf


def global_sum(value):
    """Sum of `value` over replicas (the value itself outside tf.distribute)."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce(tf.distribute.ReduceOp.SUM, value)
