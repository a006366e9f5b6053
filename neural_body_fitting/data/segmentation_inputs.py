"""The input pipeline of the segmentation network (stage 1).

A sample is its 512 x 512 RGB crop (`images/`) and its 24-part label map
(`labels/`, 0 background, SMPL part + 1), regrouped to the parts the
segmenter predicts (`encodings.part_lookup`; 12 parts -> 13 classes).
`load_segmentation_split` checks every file first (8-bit PNG of the right
colour type, 512 x 512, label values in 0..24), so a bad sample is named
before training starts: an image of another size is refused rather than
resized, because the crops and label maps of a dataset are rendered and
converted at 512 and a different size means the file is not what the layout
says it is. Data prepared by the original code has no `labels/` folder and
cannot train the segmenter.

`make_segmentation_dataset` then streams batches:

  'id'      [B] string
  'image'   [B, S, S, 3] float32 RGB in 0..255 minus `constants.IMAGENET_MEAN_RGB`
  'labels'  [B, S, S] int32 in 0..num_classes - 1

with S = `input_size` (the crop resized bilinearly, the labels nearest). With
augmentation every element gets one random flip / scale / rotation
(`data.augment`) whose stateless seed is (seed, position of the element in
the repeated stream), so a resumed run that skips the batches it has seen
gets exactly the augmentations an uninterrupted run would have.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf

from neural_body_fitting import constants
from neural_body_fitting.data import augment, encodings, fitting_inputs, layout, tf_data


@dataclasses.dataclass
class SegmentationSplit:
    """A split's checked samples (N of them)."""

    root: str
    ids: list          # [N] sample ids
    image_paths: list  # [N] 512 px RGB crops
    label_paths: list  # [N] 24-part label maps
    skipped: list      # [(id, reason)] samples left out


def load_segmentation_split(root, split, skip_bad_samples=False):
    """Reads a split's list and checks each sample's image and label map.

    Raises ValueError/FileNotFoundError naming the first bad file, unless
    `skip_bad_samples`, which leaves bad samples out, logs them and records
    them in `SegmentationSplit.skipped`.
    """
    def read_sample(sample_id):
        paths = layout.sample_paths(root, sample_id)
        for kind in ("image", "labels"):
            if not os.path.isfile(paths[kind]):
                raise FileNotFoundError(
                    f"{paths[kind]}: file does not exist (list {layout.list_path(root, split)}"
                    f" names '{sample_id}'; the segmenter needs images/ and labels/)")
            fitting_inputs.check_input_png(paths[kind], kind)
        return paths["image"], paths["labels"]

    kept, skipped = fitting_inputs.read_checked_samples(root, split, read_sample, skip_bad_samples)
    ids = [sample_id for sample_id, _, _ in kept]
    image_paths, label_paths = (list(column) for column in zip(*(paths for _, _, paths in kept)))
    return SegmentationSplit(root, ids, image_paths, label_paths, skipped)


def _decoder(input_size, num_classes):
    """(image path, label path) -> (image float32 [S, S, 3] 0..255, labels int32 [S, S])."""
    granularity = encodings.granularity_of_classes(num_classes)
    lookup = tf.constant(encodings.part_lookup(granularity), tf.int32)
    size = [input_size, input_size]

    def decode(image_path, label_path):
        image = tf.cast(fitting_inputs.decode_png(image_path, 3), tf.float32)
        labels24 = fitting_inputs.decode_png(label_path, 1)
        if input_size != constants.CROP_SIZE:
            image = tf.image.resize(image, size, method="bilinear")
            labels24 = tf.image.resize(labels24, size, method="nearest")
        return image, tf.gather(lookup, tf.cast(labels24[..., 0], tf.int32))

    return decode


def make_segmentation_dataset(loaded, batch_size, input_size=constants.CROP_SIZE,
                              num_classes=13, seed=constants.SEED, shuffle=True, repeat=True,
                              augmentation=None, skip_batches=0, drop_remainder=True,
                              cache=False, input_context=None):
    """Batches of a `SegmentationSplit` (see the module docstring).

    Args:
      loaded: from `load_segmentation_split`.
      augmentation: None (no augmentation) or the `augment.augment` ranges:
        {'flip_probability', 'scale_range', 'max_rotation_degrees'}.
      skip_batches: batches to skip at the start (to resume a run); skipped
        elements are not decoded.
      cache: keep the decoded, resized samples in memory after the first pass
        (augmentation still differs from epoch to epoch).
      input_context: a tf.distribute.InputContext; shards the samples.
    Returns:
      tf.data.Dataset of dicts.
    """
    ds = tf.data.Dataset.from_tensor_slices(
        {"id": np.array(loaded.ids), "image_path": np.array(loaded.image_paths),
         "label_path": np.array(loaded.label_paths)})
    if input_context is not None:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    decode = _decoder(input_size, num_classes)
    granularity = encodings.granularity_of_classes(num_classes)
    mean = tf.constant(constants.IMAGENET_MEAN_RGB, tf.float32)
    parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def decoded(element):
        image, labels = decode(element["image_path"], element["label_path"])
        return {"id": element["id"], "image": image, "labels": labels}

    def finish(position, element):
        image, labels = element["image"], element["labels"]
        if augmentation:
            result = augment.augment(tf.stack([tf.constant(seed, tf.int64), position]), image,
                                     labels, granularity=granularity, **augmentation)
            image, labels = result["image"], result["labels"]
        return {"id": element["id"], "image": image - mean, "labels": labels}

    if cache:
        ds = ds.map(decoded, **parallel).cache()
    if shuffle:
        ds = ds.shuffle(len(loaded.ids), seed=seed, reshuffle_each_iteration=True)
    ds = (ds.repeat() if repeat else ds).enumerate().skip(skip_batches * batch_size)
    if not cache:
        ds = ds.map(lambda position, element: (position, decoded(element)), **parallel)
    ds = ds.map(finish, **parallel)
    return tf_data.without_autotune(
        ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE))
