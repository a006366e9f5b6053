"""The segmentation task (stage 1) for the shared training loop (`training.trainer`).

The segmenter (`config.model.segmenter.network`) learns
`config.model.segmenter.num_classes` part classes from the images and label
maps of `data.segmentation_inputs`, augmented on the fly,
with the softmax cross-entropy of `losses.segmentation` (weight decay is
added by the loop). Per step it reports the batch's pixel accuracy; its
TensorBoard images show input, ground truth and prediction side by side.
A segmentation run uses no body model and no latent statistics.
"""
import numpy as np
import tensorflow as tf

from neural_body_fitting import constants
from neural_body_fitting.data import encodings, segmentation_inputs
from neural_body_fitting.losses import segmentation as segmentation_losses
from neural_body_fitting.networks import segmentation as segmenters


def augmentation_ranges(config):
    """The `data.augment` ranges of a config."""
    return {"flip_probability": config.data.augment.flip_probability,
            "scale_range": tuple(config.data.augment.scale_range),
            "max_rotation_degrees": config.data.augment.max_rotation}


def colour_parts(labels, num_classes):
    """Class map int [..., H, W] -> float32 RGB [..., H, W, 3] in 0..1 (the parts' colours)."""
    table = encodings.colour_table(encodings.granularity_of_classes(num_classes))
    return tf.cast(encodings.colourise_tf(labels, table), tf.float32) / 255.0


def summary_panels(images, labels, predicted, num_classes):
    """[N, S, 3 S, 3] float32: input | ground truth | prediction, per sample.

    Args:
      images: [N, S, S, 3] RGB minus the ImageNet mean.
      labels, predicted: [N, S, S] int classes.
    """
    rgb = tf.clip_by_value((images + constants.IMAGENET_MEAN_RGB.astype(np.float32)) / 255.0,
                           0.0, 1.0)
    return tf.concat([rgb, colour_parts(labels, num_classes),
                      colour_parts(predicted, num_classes)], axis=2)


class SegmentationTask:
    """The segmenter's model, inputs, loss and metrics for `Trainer` (`registries.TASKS`)."""

    term_names = segmentation_losses.TERMS

    def __init__(self, run):
        self.run = run
        self.config = run.config

    @staticmethod
    def resolve_body_model(config):
        del config  # A segmentation run uses no body model.

    @staticmethod
    def load_split(config):
        """Reads and checks the training split (any dataset with images and label maps)."""
        return segmentation_inputs.load_segmentation_split(
            config.runtime.dataset_root, config.runtime.train_split,
            config.runtime.skip_bad_samples)

    @staticmethod
    def run_statistics(config, split, model_dir, record, changes):
        del config, split, model_dir, record, changes
        return None, False  # The segmenter has no latent.

    def build_model(self):
        return segmenters.build_segmenter(self.config)

    @staticmethod
    def checkpoint_objects():
        return {}

    def after_restore(self, model, path):
        del model, path

    def write_run_files(self):
        pass  # The run record says everything.

    def build_inputs(self, input_context, split, batch_size, skip_batches):
        """One input pipeline's augmented batches of `split` (its shard of the samples)."""
        config = self.config
        return segmentation_inputs.make_segmentation_dataset(
            split, batch_size, input_size=config.data.input_size,
            num_classes=config.model.segmenter.num_classes, seed=config.optim.seed,
            augmentation=augmentation_ranges(config), skip_batches=skip_batches,
            cache=config.runtime.cache_inputs, input_context=input_context)

    def loss(self, model, batch):
        """({'cross_entropy': loss}, pixel sums) of one replica's batch."""
        logits = model(batch["image"], training=True)
        loss = segmentation_losses.cross_entropy(logits, batch["labels"])
        labels = tf.cast(batch["labels"], tf.int64)
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=-1) == labels, tf.float32))
        count = tf.cast(tf.size(labels), tf.float32)
        return {"cross_entropy": loss}, {"correct_pixels": correct, "pixel_count": count}

    @staticmethod
    def metrics(sums):
        """The batch's pixel accuracy from the global pixel sums of `loss`."""
        return {"pixel_accuracy": sums["correct_pixels"] / max(sums["pixel_count"], 1.0)}

    def image_summaries(self, model, batch):
        """Input, ground truth and prediction (inference mode) of up to 3 samples."""
        images = batch["image"][:3]
        predicted = tf.argmax(model(images, training=False), axis=-1, output_type=tf.int32)
        tf.summary.image("input_truth_prediction", summary_panels(
            images, batch["labels"][:3], predicted, self.config.model.segmenter.num_classes),
            max_outputs=3)
