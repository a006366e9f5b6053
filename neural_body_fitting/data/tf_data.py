"""Options every tf.data pipeline of the library shares."""
import tensorflow as tf


def without_autotune(dataset):
    """`dataset` with tf.data's autotuning off.

    Freeing an iterator that autotuning watched waits out its thread's
    current sleep, which grows while the CPU is busy: a finished Trainer,
    evaluation or inference took up to a minute to let go of its data
    (measured 17-42 s on two busy cores). Without autotuning, `AUTOTUNE` maps
    run as many calls in parallel as there are cores, which is what the
    pipelines here want: they decode PNGs or draw maps, one sample per call.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
