"""`nbf-reproduce` at a tiny budget: the table files hold every variant, an
identical run of another table is reused, Table 2 evaluates on true and
predicted part maps, and a second call trains nothing."""
import csv
import dataclasses
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import constants, evaluation, reproduction, serving, training
from neural_body_fitting.configs import experiments, reproduce
from neural_body_fitting.data import encodings, layout
from neural_body_fitting.serving import handover, predictor
from neural_body_fitting.training import runs
from neural_body_fitting.utils import images

TINY = reproduce.Budget(input_size=32, steps=3, batch_size=4, num_train=12, num_test=4,
                        lr=1e-3, lr_policy="constant")
# The tables' networks are the tiny ones: what the command does with its
# runs (tables, reuse, caching, the hand-over) does not depend on the backbone.
TINY_RUNS = dataclasses.replace(TINY, config_overrides={
    "model.fitting.encoder_type": "tiny", "runtime.compile_body_model": False})
TINY_SEGMENTER = reproduce.SegmenterBudget(segmenter="tiny", input_size=32,
                                           batch_size=2, steps=1, lr=1e-3,
                                           lr_policy="constant")
VARIANTS = ["lat_2d", "3d"]


def handover_colours(segmenter, image):
    """The hand-over of stage 1's logits for one 512 px crop: 224 px colours [224, 224, 3]."""
    size = segmenter.inputs[0].shape[1]
    centred = tf.cast(image[None], tf.float32) - constants.IMAGENET_MEAN_RGB
    logits = segmenter(tf.image.resize(centred, [size, size]), training=False)
    labels = handover.labels_from_logits(logits, constants.CROP_SIZE)
    return handover.resize_nearest(encodings.colourise_tf(labels), constants.FIT_SIZE)[0].numpy()


@pytest.fixture
def counted(monkeypatch):
    """{'trainers': [run dirs], 'predicted': [roots]} built by the command from now on."""
    counts = {"trainers": [], "predicted": []}
    trainer_class = training.Trainer
    write = serving.write_predicted_dataset

    def counting_trainer(*args, **kwargs):
        counts["trainers"].append(args[1])
        return trainer_class(*args, **kwargs)

    def counting_write(*args, **kwargs):
        counts["predicted"].append(args[2])
        return write(*args, **kwargs)

    monkeypatch.setattr(training, "Trainer", counting_trainer)
    monkeypatch.setattr(serving, "write_predicted_dataset", counting_write)
    return counts


def test_tables_are_written_identical_runs_reused_and_a_second_call_trains_nothing(
        tmp_path, counted, capsys):
    # One directory for all tables: each later table reuses the runs it can.
    check_table3(tmp_path, counted, capsys)
    # Table 1's 12 parts is Table 3's L_lat + L_2D (the default losses): same
    # config, data and steps.
    table1 = reproduction.reproduce_table("table1", str(tmp_path), TINY_RUNS, ["parts12"],
                                          progress=False)
    assert len(counted["trainers"]) == len(VARIANTS), "an identical run was trained again"
    assert table1["parts12"]["reused_from"] == str(tmp_path / "table3" / "lat_2d" / "run")
    with open(tmp_path / "table3" / "lat_2d" / "result.json") as stream:
        assert table1["parts12"]["metrics"] == json.load(stream)["metrics"]
    check_table2(tmp_path, counted, capsys)


def check_table3(tmp_path, counted, capsys):
    first = reproduction.reproduce_table("table3", str(tmp_path), TINY_RUNS, VARIANTS,
                                         progress=False)
    assert len(counted["trainers"]) == len(VARIANTS)
    assert set(first) == {*VARIANTS, reproduction.BASELINE}
    for name in VARIANTS:
        assert first[name]["steps"] == TINY_RUNS.steps
        assert all(math.isfinite(v) for v in first[name]["metrics"].values())
        # The table's metrics are what nbf-eval reports on the run, with its recorded config.
        run_dir = str(tmp_path / "table3" / name / "run")
        summary = evaluation.run_evaluation(runs.load_run_config(run_dir), run_dir, "test",
                                            output=False)
        assert first[name]["metrics"] == pytest.approx(
            {key: summary[key] for key, _, _ in reproduction.METRICS}, rel=1e-6)

    markdown = (tmp_path / "table3.md").read_text()
    for name, label, paper in (("lat_2d", "L_lat + L_2D", "83.1"), ("3d", "L_3D alone", "83.7")):
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {label} |" in row and f"| {paper} |" in row, row
    with open(tmp_path / "table3.csv", newline="") as stream:
        records = {r["variant"]: r for r in csv.DictReader(stream)}
    assert set(records) == {*VARIANTS, reproduction.BASELINE}
    for name in VARIANTS:
        for key, _, _ in reproduction.METRICS:
            assert math.isfinite(float(records[name][key]))
    assert records["lat_2d"]["paper_mean_err_joints3D"] == "83.1"
    assert (tmp_path / "table3.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "table3_curves.png").read_bytes().startswith(b"\x89PNG")

    capsys.readouterr()
    second = reproduction.reproduce_table("table3", str(tmp_path), TINY_RUNS, VARIANTS,
                                          progress=False)
    output = capsys.readouterr().out
    assert len(counted["trainers"]) == len(VARIANTS), "the second call trained"
    assert second == first
    for name in (*VARIANTS, reproduction.BASELINE):
        assert f"  {name}: cached (" in output, output
    assert "table3: total wall time" in output


def check_table2(tmp_path, counted, capsys):
    """Table 2 in a directory holding Table 3's L_lat + L_2D, the same run as its 'gt'."""
    trained_before = len(counted["trainers"])
    output = str(tmp_path)
    first = reproduction.reproduce_table("table2", output, TINY_RUNS, progress=False,
                                    segmenter_budget=TINY_SEGMENTER)
    # The segmenter and 'predicted' train; 'gt' is Table 3's run, evaluated on both.
    assert len(counted["trainers"]) == trained_before + 2
    assert len(counted["predicted"]) == 1
    assert first["gt"]["reused_from"] == str(tmp_path / "table3" / "lat_2d" / "run")

    for name in ("gt", "predicted", reproduction.BASELINE):
        for data in reproduction.TEST_DATA:
            assert all(math.isfinite(v) for v in first[name]["metrics"][data].values())
    run_files = os.listdir(tmp_path / "table2" / "predicted" / "run")
    assert {"eval_test_gt.json", "eval_test_predicted.json"} <= set(run_files)
    markdown = (tmp_path / "table2.md").read_text()
    for name in ("gt", "predicted", reproduction.BASELINE, "network", "largest_part",
                 "all_background"):
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {name} |"))
        assert len(row.split("|")) == 2 + 2 + 4, row  # Two text cells, four numbers.
    with open(tmp_path / "table2.csv", newline="") as stream:
        records = {r["variant"]: r for r in csv.DictReader(stream)}
    assert set(records) == {"gt", "predicted", reproduction.BASELINE}
    for data in reproduction.TEST_DATA:
        for key, _, _ in reproduction.METRICS:
            assert float(records["predicted"][f"{data}_{key}"]) == pytest.approx(
                first["predicted"]["metrics"][data][key], rel=1e-6)
    # Evaluated on the ground-truth maps, 'gt' is Table 3's run as it was.
    assert first["gt"]["metrics"]["gt"] == pytest.approx(
        first_metrics(tmp_path, "table3", "lat_2d"), rel=1e-6)
    with open(tmp_path / "table2_segmenter.csv", newline="") as stream:
        segmenter_rows = {r["prediction"]: r for r in csv.DictReader(stream)}
    assert float(segmenter_rows["all_background"]["mean_iou_without_background"]) == 0.0
    assert 0.0 < float(segmenter_rows["largest_part"]["mean_iou_without_background"]) < 1.0
    assert (tmp_path / "table2.png").read_bytes().startswith(b"\x89PNG")

    # The predicted data: the segmenter's maps as inference hands them over, no labels.
    data, predicted = tmp_path / "data", tmp_path / reproduction.PREDICTED_ROOT
    assert not (predicted / "labels").exists()
    info = layout.read_dataset_info(str(predicted))
    assert info["complete"] and info["part_maps"]["checkpoint"] == "ckpt-1"
    assert layout.read_split_list(str(predicted), "test") == layout.read_split_list(
        str(data), "test")
    sample_id = layout.read_split_list(str(data), "test")[0][0]
    segmenter = predictor.load_segmentation_run(str(tmp_path / "table2" / "segmenter" / "run"))
    stored = images.read_image(layout.sample_paths(str(predicted), sample_id)["colours"])
    image = images.read_image(layout.sample_paths(str(data), sample_id)["image"])
    np.testing.assert_array_equal(stored, handover_colours(segmenter, image))

    capsys.readouterr()
    trained = len(counted["trainers"])
    second = reproduction.reproduce_table("table2", output, TINY_RUNS, progress=False,
                                     segmenter_budget=TINY_SEGMENTER)
    printed = capsys.readouterr().out
    assert len(counted["trainers"]) == trained and len(counted["predicted"]) == 1, \
        "the second call trained"
    assert second == first
    for name in ("segmenter", "gt", "predicted", reproduction.BASELINE):
        assert f"  {name}: " in printed and "cached" in printed, printed

    with pytest.raises(reproduction.RequestError, match="steps: 1 there, 2 here"):
        reproduction.reproduce_table("table2", output, TINY_RUNS, progress=False,
                                segmenter_budget=dataclasses.replace(TINY_SEGMENTER, steps=2))


def first_metrics(tmp_path, table, variant):
    with open(tmp_path / table / variant / "result.json") as stream:
        return json.load(stream)["metrics"]


def test_unknown_variants_and_another_budget_are_refused(tmp_path):
    with pytest.raises(reproduction.RequestError,
                       match="--variants: unknown variant of table3 'lat_4d'; did you mean"):
        reproduction.select_variants("table3", ["lat", "lat_4d"])
    reproduction.check_budget(str(tmp_path), TINY, "synthetic")
    with pytest.raises(reproduction.RequestError, match="steps: 3 there, 4 here"):
        reproduction.check_budget(str(tmp_path), reproduce.Budget(
            input_size=32, steps=4, batch_size=4, num_train=12, num_test=4, lr=1e-3,
            lr_policy="constant"), "synthetic")


def test_table4_lists_flag_nested_subsets(tmp_path):
    from neural_body_fitting.data import layout

    ids = [f"train_{i:06d}" for i in range(40)]
    layout.write_split_list(str(tmp_path), "train", [(i, 1) for i in ids])
    reproduction.write_fraction_lists(str(tmp_path), [0.0, 0.05, 0.1, 0.2, 0.5])
    flagged = {}
    for fraction in (0.0, 0.05, 0.1, 0.2, 0.5):
        entries = layout.read_split_list(str(tmp_path), reproduce.fraction_split(fraction))
        assert [sample_id for sample_id, _ in entries] == ids
        flagged[fraction] = {sample_id for sample_id, flag in entries if flag}
        assert len(flagged[fraction]) == round(fraction * len(ids))
    assert flagged[0.05] <= flagged[0.1] <= flagged[0.2] <= flagged[0.5]
    assert reproduce.fraction_split(0.2) == "train_3d020"


def test_learning_curves_are_plotted_from_the_runs_validation_files(tmp_path):
    with_curve, without = tmp_path / "lat" / "run", tmp_path / "2d" / "run"
    with_curve.mkdir(parents=True)
    without.mkdir(parents=True)
    (with_curve / "validation.csv").write_text(
        "step,mean_err_joints3D,mean_recon_err,mean_pckh,mean_err_quat,median_recon_err\n"
        "100,250.0,150.0,0.5,1.2,140.0\n200,200.0,120.0,0.6,1.0,110.0\n")
    plots = evaluation.plots
    curves = plots.run_curves({"lat": str(with_curve), "2d": str(without)})
    assert list(curves) == ["lat"]
    assert [(row["step"], row["mean_recon_err"]) for row in curves["lat"]] == [
        (100, 150.0), (200, 120.0)]
    path = tmp_path / "table3_curves.png"
    assert not plots.plot_learning_curves(str(path), {}, "no runs")
    assert not path.exists()
    assert plots.plot_learning_curves(str(path), curves, "Table 3",
                                      metrics=("mean_err_joints3D", "mean_recon_err"),
                                      baselines={"mean_recon_err": 160.0})
    assert path.read_bytes().startswith(b"\x89PNG")


def test_overrides_are_recorded_with_the_budget_and_budget_keys_set_their_field(tmp_path):
    budget = reproduce.with_overrides(TINY, {"optim.lr": 3e-4, "model.bn_decay": 0.8})
    assert (budget.lr, budget.config_overrides) == (3e-4, {"model.bn_decay": 0.8})
    config = reproduce.variant_config(reproduce.TABLES["table3"].variants["lat"], budget, "/d")
    assert (config.optim.lr, config.model.bn_decay) == (3e-4, 0.8)
    with pytest.raises(ValueError, match="--config.optim.lr and --lr both set it"):
        reproduce.with_overrides(TINY, {"optim.lr": 3e-4}, fields_given={"lr"})
    with pytest.raises(ValueError, match="--config.data.input_type: set by each variant"):
        reproduce.with_overrides(TINY, {"data.input_type": "rgb"})
    reproduction.check_budget(str(tmp_path), budget, "synthetic")
    with pytest.raises(reproduction.RequestError, match="config_overrides: "):
        reproduction.check_budget(str(tmp_path), dataclasses.replace(
            budget, config_overrides={"model.bn_decay": 0.9}), "synthetic")


def test_a_budget_json_from_before_overrides_is_the_budget_without_them(tmp_path):
    old = {k: v for k, v in dataclasses.asdict(TINY).items() if k != "config_overrides"}
    (tmp_path / "budget.json").write_text(json.dumps({**old, "body_model": "synthetic"}))
    reproduction.check_budget(str(tmp_path), TINY, "synthetic")
    with pytest.raises(reproduction.RequestError, match="config_overrides"):
        reproduction.check_budget(str(tmp_path), reproduce.with_overrides(
            TINY, {"optim.beta1": 0.9}), "synthetic")


def test_the_default_budget_trains_the_demo_run_as_table3_full_losses():
    """At the default budget, Table 3's L_lat + L_3D + L_2D is the `make demo` run, which the
    demo shows learns the articulated pose: they differ in no key that defines a run."""
    variant = reproduce.TABLES["table3"].variants["lat_3d_2d"]
    config = reproduce.variant_config(variant, reproduce.Budget(), "/d")
    demo = experiments.get_experiment("demo")
    assert runs.config_differences(demo.to_dict(), config) == []
    longer = reproduce.variant_config(variant, reproduce.Budget(steps=2000), "/d")
    assert runs.config_differences(demo.to_dict(), longer) == []  # max_steps is operational.
    assert longer.runtime.max_steps == 2000
