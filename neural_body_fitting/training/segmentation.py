"""The segmentation stage (stage 1) for the shared training loop (`training.trainer`).

The segmenter (`config.segmenter`) learns `config.num_classes` part classes
from the images and label maps of `data.segmentation_inputs`, augmented on the fly,
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
from neural_body_fitting.networks import construction
from neural_body_fitting.networks import segmentation as segmenters


def augmentation_ranges(config):
    """The `data.augment` ranges of a config."""
    return {"flip_probability": config.augment_flip_probability,
            "scale_range": tuple(config.augment_scale_range),
            "max_rotation_degrees": config.augment_max_rotation}


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


class SegmentationStage:
    """Model, data, loss and summaries of the segmenter for `Trainer`."""

    term_names = segmentation_losses.TERMS
    body_model = None

    def __init__(self, config, model_dir):
        self.config = config
        self.model_dir = model_dir

    def check_data(self, data_identity):
        del data_identity  # Any dataset with images and label maps will do.

    def load_data(self, record, changes):
        """Reads and checks the training split; returns the number of samples."""
        del record, changes
        self.split = segmentation_inputs.load_segmentation_split(
            self.config.dataset_root, self.config.train_split, self.config.skip_bad_samples)
        return len(self.split.ids)

    def build_model(self):
        """The segmenter, its initial weights set by `config.seed` (no global state changes)."""
        config = self.config
        with construction.seeded(config.seed), construction.dtype_policy(
                "mixed_float16" if config.mixed_precision else None):
            return segmenters.build_segmentation_model(config.segmenter, config.input_size,
                                                       config.num_classes, config.bn_decay)

    @staticmethod
    def checkpoint_objects():
        return {}

    def after_restore(self, model, path):
        del model, path

    def write_run_files(self):
        pass  # The run record says everything.

    def make_dataset(self, strategy, skip_steps):
        config = self.config
        return segmentation_inputs.make_distributed_segmentation_dataset(
            strategy, config.batch_size, self.split, skip_steps=skip_steps,
            input_size=config.input_size, num_classes=config.num_classes, seed=config.seed,
            augmentation=augmentation_ranges(config), cache=config.cache_inputs)

    def loss_terms(self, model, batch):
        """({'cross_entropy': loss}, pixel sums) of one replica's batch."""
        logits = model(batch["image"], training=True)
        loss = segmentation_losses.cross_entropy(logits, batch["labels"])
        labels = tf.cast(batch["labels"], tf.int64)
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, axis=-1) == labels, tf.float32))
        count = tf.cast(tf.size(labels), tf.float32)
        return {"cross_entropy": loss}, {"correct_pixels": correct, "pixel_count": count}

    @staticmethod
    def finish_metrics(metrics):
        """Turns the global pixel sums into the batch's pixel accuracy."""
        metrics["pixel_accuracy"] = metrics.pop("correct_pixels") / max(
            metrics.pop("pixel_count"), 1.0)

    def image_summaries(self, model, batch):
        """Input, ground truth and prediction (inference mode) of up to 3 samples."""
        images = batch["image"][:3]
        predicted = tf.argmax(model(images, training=False), axis=-1, output_type=tf.int32)
        tf.summary.image("input_truth_prediction", summary_panels(
            images, batch["labels"][:3], predicted, self.config.num_classes), max_outputs=3)
