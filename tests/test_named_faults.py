"""Issue 19, "every fault is named": each refusal names the file, argument or key and what
was expected, and changes nothing already written (hashes before and after)."""
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest
import test_reliability
from test_reliability import snapshot

from neural_body_fitting import evaluation, serving, training
from neural_body_fitting.configs import reproduce
from neural_body_fitting.data import layout, statistics, synthesis
from neural_body_fitting.reproduction import budget, cache
from neural_body_fitting.serving import people
from neural_body_fitting.training import runs
from neural_body_fitting.utils import images

# The two-step run on two small datasets of test_reliability.py, as this module's fixtures.
datasets = test_reliability.datasets
trained_run = test_reliability.trained_run
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_command(module, *args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", f"neural_body_fitting.cli.{module}", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def write_black_png(path, width, height):
    """A valid greyscale PNG of `width` x `height` black pixels, written row by row: a
    20000 x 20000 one is 400 MB of pixels in about 400 kB of file."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    compressor, row, parts = zlib.compressobj(9), bytes(width + 1), []
    for _ in range(height):
        parts.append(compressor.compress(row))
    parts.append(compressor.flush())
    with open(path, "wb") as stream:
        stream.write(images.PNG_SIGNATURE + chunk(b"IHDR", struct.pack(
            ">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", b"".join(parts))
            + chunk(b"IEND", b""))


def test_4_an_image_over_the_pixel_budget_is_refused_from_its_header(eager, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    write_black_png(folder / "huge.png", 20000, 20000)
    # A JPEG's size comes from Pillow, a PNG's from its IHDR.
    (folder / "large.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((2000, 3000, 3), np.uint8))[1])
    write_black_png(folder / "fine.png", 512, 512)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"huge.png: 20000x20000 px \(400.0 megapixels\) is "
                       r"over the budget of 50 megapixels"):
        images.read_image(str(folder / "huge.png"))  # What the dataset and UP-3D readers use.
    assert time.perf_counter() - start < 1.0  # The header only: decoding takes many seconds.
    out = str(tmp_path / "out")
    summary = serving.run_inference(eager, str(folder), out, "segment_fit", progress=False,
                                    max_megapixels=5)
    failed = dict(summary.failed)
    assert "20000x20000 px (400.0 megapixels) is over the budget of 5 megapixels" in failed["huge"]
    assert "3000x2000 px (6.0 megapixels)" in failed["large"]
    assert summary.written == ["fine"]
    # With the person detector (nbf-infer's default for photos), before it reads them.
    class NoOne:
        def detect(self, image):
            return []

    summary = serving.run_inference(eager, str(folder), str(tmp_path / "detected"),
                                    "segment_fit", progress=False, max_megapixels=5,
                                    detector=NoOne())
    failed = dict(summary.failed)
    assert "400.0 megapixels" in failed["huge"] and "6.0 megapixels" in failed["large"]
    assert [key for key, _ in summary.notes] == ["fine"]  # Read, and no one found.


def test_7_huge_predictions_stop_the_evaluation_before_any_file_changes(trained_run):
    config, run_dir = trained_run
    evaluation.run_evaluation(config, run_dir, "val")
    before = snapshot(run_dir)
    model, stats_mean = evaluation.load_run_model(config, run_dir)

    class Huge:
        smpl = model.smpl

        def __call__(self, inputs, translation=None, training=False):
            outputs = dict(model(inputs, translation=translation, training=training))
            outputs["betas"] = outputs["betas"] * 0 + 1e30
            outputs["smpl_joints"] = outputs["smpl_joints"] * 1e30
            return outputs

    dataset, num_samples = evaluation.evaluation_dataset(config, "val", stats_mean)
    prefix = runs.evaluation_path(run_dir, "val", runs.dataset_name(config.runtime.dataset_root))
    with pytest.raises(FloatingPointError, match="sample 'val_000000': its err_joints3D is inf"):
        evaluation.evaluate(Huge(), dataset, num_samples, config, prefix)
    assert snapshot(run_dir) == before


def test_7_a_file_as_model_dir_is_named(trained_run, tmp_path):
    config, _ = trained_run
    path = tmp_path / "a_file"
    path.write_text("mine")
    for attempt in (lambda: training.Trainer(config, str(path), progress=False),
                    lambda: evaluation.run_evaluation(config, str(path), "val")):
        with pytest.raises(NotADirectoryError, match=f"{path}: a file, not a run directory"):
            attempt()
    assert path.read_text() == "mine"


def test_7_negative_sample_counts_are_refused_by_flag_and_library(tmp_path):
    with pytest.raises(ValueError, match="num_train: a number of samples is at least 0, got -5"):
        synthesis.generate_dataset(str(tmp_path / "data"), {"train": -5})
    with pytest.raises(ValueError, match="--num_train: must be a whole number of at least 1"):
        reproduce.Budget(num_train=-5)
    made = run_command("make_data", f"--output_dir={tmp_path / 'data'}", "--num_train=-5",
                       cwd=tmp_path)
    assert made.returncode != 0, made.stderr
    assert "--num_train=-5: -5 is not a non-negative integer" in made.stderr
    assert not (tmp_path / "data").exists()


def test_7_an_output_dir_that_is_a_file_is_refused_before_any_work(tmp_path):
    target = tmp_path / "gallery"
    target.write_text("mine")
    with pytest.raises(NotADirectoryError, match=f"output folder {target}: a file"):
        serving.run_inference(None, str(tmp_path / "nothing"), str(target))
    assert target.read_text() == "mine"


@pytest.mark.parametrize("name,content,message", [
    ("budget.json", '{"steps": 1', "not a readable budget record"),
    ("result.json", "[1, 2]", "a cached result holds a JSON object, got list")])
def test_7_truncated_reproduction_records_are_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(budget.RequestError, match=f"{path}: {message}"):
        if name == "budget.json":
            budget.check_budget(str(tmp_path), reproduce.Budget(), "synthetic")
        else:
            cache.cached(str(path), dict)
    assert path.read_text() == content


@pytest.mark.parametrize("edit,message", [
    (lambda record: record.update(history="none"), "'history' must be a list, got \"none\""),
    (lambda record: record["config"]["data"].update(input_size="32"),
     "config.data.input_size = '32' has the wrong type")])
def test_7_a_run_record_of_the_wrong_type_is_named(trained_run, tmp_path, edit, message):
    _, run_dir = trained_run
    record = json.load(open(runs.record_path(run_dir)))
    edit(record)
    (tmp_path / "run.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"{tmp_path / 'run.json'}: {message}"):
        runs.load_run_config(str(tmp_path))


def test_7_a_malformed_openpose_file_fails_its_image_only(tmp_path):
    (tmp_path / "a_keypoints.json").write_text('{"people": [')
    (tmp_path / "b_keypoints.json").write_text('{"people": 5}')
    keypoints = [[100 + 10 * k, 50 + 40 * k, 0.9] for k in range(25)]
    (tmp_path / "c_keypoints.json").write_text(json.dumps(
        {"people": [{"pose_keypoints_2d": sum(keypoints, [])}]}))
    found = people.read_people(str(tmp_path))
    assert "not a readable JSON file" in found["a"][0].error
    assert "'people' must be a list of people, got int" in found["b"][0].error
    assert found["c"][0].box is not None and found["c"][0].error is None


def test_8_evaluations_on_two_datasets_keep_both(trained_run, datasets):
    config, run_dir = trained_run
    other = config.copy_and_resolve_references()
    other.runtime.dataset_root = datasets[1]
    first = evaluation.run_evaluation(config, run_dir, "val")
    evaluation.run_evaluation(other, run_dir, "val", allow_run_changes=True)
    for root in datasets:
        assert os.path.isfile(runs.evaluation_path(run_dir, "val", runs.dataset_name(root))
                              + ".json")
    with open(runs.evaluation_path(run_dir, "val", runs.dataset_name(datasets[0])) + ".json") as f:
        assert json.load(f) == json.loads(json.dumps(first))


@pytest.mark.parametrize("steps,every", [(16, 2), (800, 100), (4000, 500), (5, 1)])
def test_9_a_reproduction_checkpoints_every_eighth_of_its_steps(steps, every):
    budget = reproduce.Budget(steps=steps)
    variant = reproduce.TABLES["table3"].variants["lat"]
    assert reproduce.variant_config(variant, budget, "/data").runtime.save_freq == every
    segmenter = reproduce.SegmenterBudget(steps=steps)
    assert reproduce.segmenter_config(segmenter, "/data").runtime.save_freq == every


def test_8_a_statistics_prefix_naming_a_folder_is_refused(tmp_path):
    (tmp_path / "mine.txt").write_text("a user's file")
    before = snapshot(str(tmp_path))
    for prefix in (str(tmp_path) + os.sep, str(tmp_path)):
        with pytest.raises(ValueError, match="a folder; statistics need a file-name prefix"):
            statistics.save_latent_statistics(prefix, np.zeros(229), np.ones(229))
    assert snapshot(str(tmp_path)) == before


def test_8_a_person_box_outside_the_image_fails_that_person_only(eager, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "street.png"), np.full((400, 600, 3), 128, np.uint8))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"street": [[100, 50, 300, 390], [700, 50, 900, 390]]}))
    summary = serving.run_inference(eager, str(folder), str(tmp_path / "out"), "segment_fit",
                                    people_file=str(boxes), progress=False)
    assert summary.written == ["street_p0"]
    assert dict(summary.failed)["street_p1"].endswith(
        "person box [700.0, 50.0, 900.0, 390.0] lies entirely outside the 600x400 image")


def test_8_generation_settings_out_of_range_are_refused(tmp_path):
    for settings, message in (({"workers": 0}, "workers: at least 1"), (
            {"latent_fraction": 1.5}, r"latent_fraction: a fraction in \[0, 1\], got 1.5")):
        with pytest.raises(ValueError, match=message):
            synthesis.generate_dataset(str(tmp_path / "data"), {"train": 1}, **settings)
    assert not (tmp_path / "data").exists()


def test_8_a_refused_nbf_train_creates_nothing(datasets, tmp_path):
    model_dir = tmp_path / "run"
    result = run_command("train", f"--model_dir={model_dir}", "--config=demo",
                         f"--config.runtime.dataset_root={datasets[0]}",
                         "--config.data.num_landmarks=24", cwd=tmp_path)
    assert result.returncode != 0
    assert "the data has 14 landmarks, the config expects 24" in result.stderr
    assert not model_dir.exists()


def test_8_a_resume_on_a_copy_with_damaged_parameter_files_is_refused(trained_run, datasets,
                                                                        tmp_path):
    config, run_dir = trained_run
    run_copy = test_reliability.copy_of(run_dir, tmp_path)
    data_copy = str(tmp_path / "data_copy")
    shutil.copytree(datasets[0], data_copy)
    resumed = config.copy_and_resolve_references()
    resumed.runtime.dataset_root = data_copy
    resumed.runtime.max_steps = 3
    # An intact copy is the same data: it resumes.
    assert training.Trainer(resumed, run_copy, progress=False).step == 2
    sample_id = layout.read_split_list(data_copy, "train")[1][0]
    damaged = layout.sample_paths(data_copy, sample_id)["smplparams"]
    size = os.path.getsize(damaged)
    with open(damaged, "wb") as stream:  # Same size, finite, absurd: 1e27 everywhere.
        stream.write(np.full(size // 8, 1e27).tobytes())
    before = snapshot(run_copy)
    with pytest.raises(runs.RunMismatchError, match=(
            rf"training data: the files of split 'train' in {data_copy} differ from those "
            rf"the run was trained on \({datasets[0]}\): damaged, replaced or regenerated")):
        training.Trainer(resumed, run_copy, progress=False)
    assert snapshot(run_copy) == before


def test_8_a_hand_edited_run_record_is_refused_by_its_checkpoints(trained_run, tmp_path):
    config, run_dir = trained_run
    run_copy = test_reliability.copy_of(run_dir, tmp_path)
    path = runs.record_path(run_copy)
    with open(path) as stream:
        record = json.load(stream)
    record["config"]["data"]["input_type"] = "parts6"
    with open(path, "w") as stream:
        json.dump(record, stream)
    edited = config.copy_and_resolve_references()
    edited.data.input_type = "parts6"  # The command agrees with the edited record.
    before = snapshot(run_copy)
    message = (f"{path}: its config, body model or data are not those the latest checkpoint "
               r"\(ckpt-2\) was trained for: the file was edited")
    with pytest.raises(runs.RunMismatchError, match=message):
        training.Trainer(edited, run_copy, progress=False)
    with pytest.raises(runs.RunMismatchError, match=message):
        evaluation.run_evaluation(edited, run_copy, "val")
    assert snapshot(run_copy) == before
