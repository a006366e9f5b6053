"""nbf-infer over folders with bad files, people files, re-runs and the gallery."""
import html.parser
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from serving_helpers import person_image

from neural_body_fitting import serving
from neural_body_fitting.data import encodings
from neural_body_fitting.serving import outputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



def write(path, image):
    assert cv2.imwrite(str(path), image)


def part_map_folder(folder):
    """Good part maps (colours, RGBA, a label map) and bad files of every kind."""
    folder.mkdir()
    labels = np.kron(np.random.default_rng(0).integers(0, 13, (28, 28)), np.ones((8, 8), int))
    colours = encodings.colourise(labels)[..., ::-1]  # OpenCV writes BGR.
    write(folder / "good.png", colours)
    write(folder / "rgba.png", np.concatenate([colours, np.full_like(colours[..., :1], 255)], -1))
    write(folder / "labels.png", labels.astype(np.uint8))
    write(folder / "big512.png", cv2.resize(colours, (512, 512),
                                            interpolation=cv2.INTER_NEAREST))
    (folder / "truncated.png").write_bytes((folder / "good.png").read_bytes()[:300])
    (folder / "notes.png").write_text("not an image")
    write(folder / "deep16.png", colours.astype(np.uint16) * 257)
    write(folder / "tiny.png", colours[:20, :20])
    write(folder / "photo_grey.png", np.random.default_rng(1).integers(0, 256, (64, 64),
                                                                        dtype=np.uint8))
    return {"good", "rgba", "labels", "big512"}, {
        "truncated": "not a readable image", "notes": "not a readable image",
        "deep16": "must be 8 bit", "tiny": "too small", "photo_grey": "label map holds 0..12"}


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src")]


def linked_files(gallery):
    parser = _Links()
    with open(gallery, encoding="utf-8") as stream:
        parser.feed(stream.read())
    return parser.links


def test_bad_files_are_listed_and_the_good_ones_written(eager, tmp_path):
    good, bad = part_map_folder(tmp_path / "maps")
    out = str(tmp_path / "out")
    summary = serving.run_inference(eager, str(tmp_path / "maps"), out, "fit", batch_size=3,
                                    progress=False)
    assert sorted(summary.written) == sorted(good)
    failed = dict(summary.failed)
    assert sorted(failed) == sorted(bad)
    for name, expected in bad.items():
        assert expected in failed[name] and f"{name}.png" in failed[name], failed[name]
    for name in good:
        paths = outputs.person_paths(out, name)
        assert all(os.path.isfile(path) for path in paths.values())
    # No temporary files are left behind.
    assert not [name for name in os.listdir(os.path.join(out, "images")) if ".tmp" in name]
    # The gallery links only to files that exist, relatively, and lists the failures.
    links = linked_files(summary.gallery)
    assert len(links) == len(good) * 12
    for link in links:
        assert not os.path.isabs(link) and os.path.isfile(os.path.join(out, link)), link
    text = open(summary.gallery, encoding="utf-8").read()
    assert all(name in text for name in bad) and "Failed (5)" in text
    # A label map and its colour map (also at 512 px) give the same body.
    results = {name: np.load(outputs.person_paths(out, name)["npz"]) for name in good}
    for name in ("labels", "big512"):
        np.testing.assert_allclose(results[name]["smpl_joints"], results["good"]["smpl_joints"],
                                   atol=1e-5)
    np.testing.assert_allclose(results["big512"]["smpl_joints_2d_original"],
                               results["good"]["smpl_joints_2d_original"] * 512 / 224, atol=1e-3)

    # A re-run skips the finished people and leaves their files alone.
    before = os.path.getmtime(outputs.person_paths(out, "good")["npz"])
    again = serving.run_inference(eager, str(tmp_path / "maps"), out, "fit", progress=False)
    assert again.written == [] and sorted(again.skipped) == sorted(good)
    assert os.path.getmtime(outputs.person_paths(out, "good")["npz"]) == before


def test_people_from_keypoints_one_result_each(eager, tmp_path):
    images = tmp_path / "photos"
    images.mkdir()
    boxes = [(100.0, 50.0, 180.0, 330.0), (400.0, 120.0, 470.0, 300.0)]
    picture = person_image(360, 640, boxes[0])
    picture[120:300, 400:470] = (200, 90, 90)
    write(images / "two.jpg", picture[..., ::-1])
    write(images / "nobody.png", person_image(100, 100, (0, 0, 1, 1))[..., ::-1])
    keypoints = tmp_path / "keypoints"
    keypoints.mkdir()
    people = []
    for x0, y0, x1, y1 in boxes:
        points = np.zeros((25, 3))
        points[:4] = [[x0, y0, 0.9], [x1, y1, 0.9], [x0, y1, 0.8], [x1, y0, 0.3]]
        people.append({"pose_keypoints_2d": points.ravel().tolist()})
    (keypoints / "two_keypoints.json").write_text(json.dumps({"people": people}))
    (keypoints / "ghost_keypoints.json").write_text(json.dumps({"people": people[:1]}))
    out = str(tmp_path / "out")
    summary = serving.run_inference(eager, str(images), out, "segment_fit",
                                    people_file=str(keypoints), progress=False)
    assert sorted(summary.written) == ["two_p0", "two_p1"]
    failed = dict(summary.failed)
    assert "no person box or keypoints" in failed["nobody"]
    assert "not among the inputs" in failed["ghost"]
    for index, (x0, y0, x1, y1) in enumerate(boxes):
        stored = np.load(outputs.person_paths(out, f"two_p{index}")["npz"])
        scale, cx, cy, _ = stored["crop_transform"]
        assert scale == pytest.approx(440 / (y1 - y0)) and (cx, cy) == ((x0 + x1) / 2,
                                                                         (y0 + y1) / 2)
        back = (stored["smpl_joints_2d_original"] - [cx, cy]) * scale + 256
        np.testing.assert_allclose(back, stored["smpl_joints_2d"], atol=1e-3)


def test_the_command_exits_non_zero_on_failures(run_dir, tmp_path):
    good, bad = part_map_folder(tmp_path / "maps")
    env = dict(os.environ, PYTHONPATH=REPO)
    result = subprocess.run(
        [sys.executable, "-m", "neural_body_fitting.cli.infer", "--mode=fit",
         f"--input={tmp_path / 'maps'}", f"--fitting_run={run_dir}",
         f"--output_dir={tmp_path / 'out'}", "--batch_size=2"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert f"{len(good)} people written, 0 already finished, {len(bad)} failed" in result.stdout
    assert "FAILED deep16" in result.stdout
    assert os.path.isfile(tmp_path / "out" / "index.html")
