"""The hand-over from stage 1 to stage 2, as the original did it.

  logits [B, S, S, 13] ─ bilinear to 512 ─ argmax ─ part colours ─ 224 px by
  PIL's `Image.thumbnail((224, 224), NEAREST)` ─ x * 2/255 - 1 ─ stage 2

For NEAREST, Pillow scales without filtering (`ImagingScaleAffine`): it
walks the source in double precision, starting at half a step and adding the
step n / m once per output pixel, and truncates. Output pixel i therefore
reads about floor((i + 0.5) n / m), except where that value is an integer:
the accumulated sum then falls just below it and Pillow takes the pixel
before (for 512 -> 224 at i = 3, 10, 17, ...: 7 instead of 8).
`nearest_indices` repeats the same additions, so its table is Pillow's bit
for bit; `resize_nearest` applies it without needing Pillow. A square map
smaller than 224 is enlarged with the same rule (PIL's `resize`;
`thumbnail` itself never enlarges).
"""
import numpy as np
import tensorflow as tf

from neural_body_fitting import constants
from neural_body_fitting.data import encodings


def nearest_indices(source_size, target_size):
    """[target_size] int source pixel that PIL's NEAREST reads for each output pixel."""
    step = source_size / target_size
    position, indices = 0.5 * step, []
    for _ in range(target_size):  # The same float64 additions as Pillow's C loop.
        indices.append(int(position))
        position += step
    return np.minimum(np.array(indices, np.int64), source_size - 1)


def resize_nearest(maps, size):
    """Square maps [B, n, n, ...] (tensor or array) -> [B, size, size, ...] by `nearest_indices`."""
    source = maps.shape[1]
    if source == size:
        return maps
    indices = nearest_indices(source, size)
    if isinstance(maps, np.ndarray):
        return maps[:, indices][:, :, indices]
    return tf.gather(tf.gather(maps, indices, axis=1), indices, axis=2)


def labels_from_logits(logits, size=constants.CROP_SIZE):
    """Logits [B, S, S, K] -> labels int32 [B, size, size] (bilinear to `size`, then argmax)."""
    if logits.shape[1] != size:
        logits = tf.image.resize(logits, [size, size], method="bilinear")
    return tf.argmax(logits, axis=-1, output_type=tf.int32)


def fitting_input(colour_maps, input_size=constants.FIT_SIZE):
    """Colour maps uint8 [B, n, n, 3] -> the fitting network's input float32 [B, s, s, 3].

    Thumbnail-nearest to 224, then `encodings.scale_input`; a network trained at
    another input size gets the 224 map resized with nearest sampling, as the
    training pipeline (`data.fitting_inputs`) feeds it.
    """
    maps = resize_nearest(colour_maps, constants.FIT_SIZE)
    if input_size != constants.FIT_SIZE:
        maps = tf.image.resize(maps, [input_size, input_size], method="nearest")
    return encodings.scale_input_tf(maps)
