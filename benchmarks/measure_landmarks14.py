"""The detector's 14 landmarks and crops against the truth, on synthetic renderings.

    python benchmarks/measure_landmarks14.py [--count=200] [--seed=0]

Renders synthetic bodies at 512 px as the training data is made (`data.synthesis`:
pose prior, betas, jitter, procedural background; no mirroring), runs BlazePose
(`detection.Detector`), maps its 33 landmarks to the 14 (`serving.keypoints`) and
prints, per landmark, the median distance in pixels to the rendered body's projected
landmarks, also after letting each person's left and right swap (the faceless body
seen from behind looks like one seen from the front), and the height of the true
landmarks in the crop that nbf-infer's rule makes from the detection, against 440.
A table, not a test: docs/detection.md quotes it.
"""
import argparse

import numpy as np

from neural_body_fitting import constants, detection, geometry
from neural_body_fitting.body.resolve import resolve_body_model
from neural_body_fitting.data import synthesis
from neural_body_fitting.serving import crops, detected, keypoints, people


def renderings(count, seed):
    """Yields (image [512, 512, 3], true landmarks [14, 2] in its pixels)."""
    renderer = synthesis.SampleRenderer(resolve_body_model("synthetic"))
    for start in range(0, count, 16):
        rngs = [synthesis.sample_rng(seed, "test", k) for k in range(start, min(count,
                                                                                start + 16))]
        params = [synthesis.sample_parameters(rng) for rng in rngs]
        vertices, _, landmarks = renderer.pose_bodies(*(np.stack([p[k] for p in params])
                                                        for k in range(3)))
        truth = geometry.project_points(landmarks, constants.CROP_SIZE).numpy()
        for k, rng in enumerate(rngs):
            yield renderer.render_sample(vertices[k], rng)[0], truth[k]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    detector = detection.Detector(masks=False)
    errors, swapped, heights, found = [], [], [], 0
    for image, truth in renderings(args.count, args.seed):
        people_found = detector.detect(image)
        if not people_found:
            continue
        found += 1
        points = detected.body25(people_found[0].landmarks)
        estimate = keypoints.landmarks14(points, keypoints.BODY25_NAMES)[:, :2]
        error = np.linalg.norm(estimate - truth, axis=-1)
        mirrored = np.linalg.norm(estimate[constants.MIRROR_LANDMARKS14] - truth, axis=-1)
        errors.append(error)
        swapped.append(mirrored if mirrored.mean() < error.mean() else error)
        person = people.person_from_keypoints(points, "", keypoints.MIN_CONFIDENCE,
                                              keypoints.BODY25_NAMES)
        if person.box is not None:
            scale = crops.transform_for_box(person.box).scale
            heights.append(scale * np.ptp(truth[:, 1]))
    errors, swapped, heights = np.array(errors), np.array(swapped), np.array(heights)
    print(f"{found} of {args.count} renderings: a person found")
    print(f"{'landmark':<16}{'median px':>10}{'  with swaps':>13}")
    for index, name in enumerate(constants.LANDMARK14_NAMES):
        print(f"{name:<16}{np.median(errors[:, index]):>10.1f}"
              f"{np.median(swapped[:, index]):>13.1f}")
    print(f"{'all':<16}{np.median(errors):>10.1f}{np.median(swapped):>13.1f}")
    swaps = np.mean(swapped.mean(axis=1) < errors.mean(axis=1))
    print(f"left/right swapped (mirror closer): {100 * swaps:.0f} % of people")
    print(f"crop height of the true landmarks: median {np.median(heights):.0f} px (440 wanted), "
          f"25-75 % {np.percentile(heights, 25):.0f}-{np.percentile(heights, 75):.0f}, "
          f"median |error| {np.median(np.abs(heights - 440)):.0f} px")


if __name__ == "__main__":
    main()
