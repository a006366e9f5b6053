"""A copy of a dataset whose 12-part maps are a segmenter's predictions (the paper's Table 2).

```
<target>/colours/<id>_colours.png   the segmenter's map of <source>/images/<id>_image.png,
                                    made as inference hands it to stage 2 (`graph.segment`:
                                    the crop at the segmenter's size, logits bilinear to 512,
                                    argmax; part colours; Pillow's thumbnail-nearest to 224)
<target>/smplparams/, joints/       hard links to the source's files (copies across devices)
<target>/lists/                     the source's lists
<target>/dataset.json               the source's, with "part_maps": where the maps came from
```

There is no `labels/`, so the fitting pipeline's `parts12` input reads the
predicted `colours/` (other granularities would regroup the true labels).
Completeness is marked as `data.synthesis` marks it: dataset.json says
"complete": false before the first sample, each finished sample goes into
the manifest, the lists and the final dataset.json come last. An
interrupted generation with the same provenance resumes; any other
provenance (another segmentation run or checkpoint, other source data)
starts afresh.
"""
import os
import shutil

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from neural_body_fitting import constants
from neural_body_fitting.data import encodings, layout
from neural_body_fitting.serving import graph, handover
from neural_body_fitting.utils import files, images

BATCH_SIZE = 8


def predicted_colour_maps(segmenter, crops):
    """uint8 crops [B, 512, 512, 3] -> the hand-over's colour maps uint8 [B, 224, 224, 3]."""
    labels = graph.segment(segmenter, crops)
    return handover.resize_nearest(encodings.colourise_tf(labels), constants.FIT_SIZE)


def link_or_copy(source, target):
    """Makes `target` a hard link to `source` (a copy where linking fails), atomically."""
    with files.atomic_path(target) as temporary:
        try:
            os.link(source, temporary)
        except OSError:  # Another file system, or one without hard links.
            shutil.copyfile(source, temporary)


def predicted_dataset_info(source_root, provenance):
    """The target's dataset.json (without "complete"): the source's plus `provenance`."""
    layout.check_complete(source_root)
    info = {key: value for key, value in layout.read_dataset_info(source_root).items()
            if key != "complete"}
    return {**info, "colour_maps_written": [12],
            "part_maps": {**provenance, "source": os.path.abspath(source_root)}}


def is_up_to_date(target_root, info):
    return layout.read_dataset_info(target_root) == {**info, "complete": True}


def split_entries(root):
    """{split: [(id, latent flag)]} of the splits `root` has lists for."""
    return {split: layout.read_split_list(root, split) for split in layout.SPLITS
            if os.path.isfile(layout.list_path(root, split))}


def write_predicted_dataset(segmenter, source_root, target_root, provenance, progress=True,
                            batch_size=BATCH_SIZE):
    """Writes (or finishes) the predicted copy of `source_root` in `target_root`; returns its info.

    Args:
      segmenter: Keras model float [B, S, S, 3] (minus the ImageNet mean) -> logits [B, S, S, 13].
      provenance: JSON-able dict naming the segmenter (run directory, checkpoint); a
        complete target with the same provenance and source is left as it is.
      batch_size: crops per segmenter call.
    """
    info = predicted_dataset_info(source_root, provenance)
    if is_up_to_date(target_root, info):
        return {**info, "complete": True}
    previous = layout.read_dataset_info(target_root)
    layout.remove_temporary_files(target_root)
    if previous.get("complete") is False and previous.get("part_maps") == info["part_maps"]:
        finished = layout.read_finished(target_root)
    else:
        layout.start_generation(target_root, info)
        finished = set()
    entries = split_entries(source_root)
    missing = [sample_id for split in entries.values() for sample_id, _ in split
               if sample_id not in finished]
    predict = tf.function(lambda crops: predicted_colour_maps(segmenter, crops), autograph=False)
    for start in tqdm(range(0, len(missing), batch_size), desc="predicted maps",
                      disable=not progress):
        ids = missing[start:start + batch_size]
        crops = np.stack([images.read_image(layout.sample_paths(source_root, i)["image"])
                          for i in ids])
        for sample_id, colours in zip(ids, predict(crops).numpy()):
            write_predicted_sample(source_root, target_root, sample_id, colours)
    for split, split_list in entries.items():
        layout.write_split_list(target_root, split, split_list)
    return layout.finish_generation(target_root, info)


def write_predicted_sample(source_root, target_root, sample_id, colours):
    """One sample of the target: the predicted colour map [224, 224, 3] and the source's
    parameters and joints."""
    source, target = (layout.sample_paths(root, sample_id) for root in (source_root, target_root))
    images.write_png(target["colours"], colours)
    for kind in ("smplparams", "joints"):
        link_or_copy(source[kind], target[kind])
    layout.record_finished(target_root, sample_id)  # Last: all of the sample's files exist.
