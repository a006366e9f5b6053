"""`nbf-reproduce` at a tiny budget: the table files hold every variant, and a
second call trains nothing."""
import csv
import math

import pytest

from neural_body_fitting.cli import reproduce as command
from neural_body_fitting.configs import experiments, reproduce

TINY = reproduce.Budget(input_size=32, steps=3, batch_size=4, num_train=12, num_test=4,
                        lr=1e-3, lr_policy="constant")
VARIANTS = ["lat_3d_2d", "3d"]  # Each costs ~30 s of graph tracing.


def test_a_table_is_written_and_a_second_call_trains_nothing(tmp_path, monkeypatch, capsys):
    constructed = []
    trainer_class = command.training.Trainer

    def counting_trainer(*args, **kwargs):
        constructed.append(args[1])
        return trainer_class(*args, **kwargs)

    monkeypatch.setattr(command.training, "Trainer", counting_trainer)
    first = command.reproduce_table("table3", str(tmp_path), TINY, VARIANTS, progress=False)
    assert len(constructed) == len(VARIANTS)
    assert set(first) == {*VARIANTS, command.BASELINE}
    for name in VARIANTS:
        assert first[name]["steps"] == TINY.steps
        assert all(math.isfinite(v) for v in first[name]["metrics"].values())

    markdown = (tmp_path / "table3.md").read_text()
    for name, label, paper in (("lat_3d_2d", "L_lat + L_3D + L_2D", "82.0"),
                               ("3d", "L_3D alone", "83.7")):
        row = next(line for line in markdown.splitlines() if line.startswith(f"| {name} |"))
        assert f"| {label} |" in row and f"| {paper} |" in row, row
    with open(tmp_path / "table3.csv", newline="") as stream:
        records = {r["variant"]: r for r in csv.DictReader(stream)}
    assert set(records) == {*VARIANTS, command.BASELINE}
    for name in VARIANTS:
        for key, _, _ in command.METRICS:
            assert math.isfinite(float(records[name][key]))
    assert records["lat_3d_2d"]["paper_mean_err_joints3D"] == "82.0"
    assert (tmp_path / "table3.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "table3_curves.png").read_bytes().startswith(b"\x89PNG")

    capsys.readouterr()
    second = command.reproduce_table("table3", str(tmp_path), TINY, VARIANTS, progress=False)
    output = capsys.readouterr().out
    assert len(constructed) == len(VARIANTS), "the second call trained"
    assert second == first
    for name in (*VARIANTS, command.BASELINE):
        assert f"  {name}: cached (" in output, output
    assert "table3: total wall time" in output

    # Table 4's 100% is Table 3's L_lat + L_3D + L_2D: same config, data and steps.
    table4 = command.reproduce_table("table4", str(tmp_path), TINY, ["3d100"], progress=False)
    assert len(constructed) == len(VARIANTS), "an identical run was trained again"
    assert table4["3d100"]["metrics"] == first["lat_3d_2d"]["metrics"]
    assert table4["3d100"]["reused_from"] == str(tmp_path / "table3" / "lat_3d_2d" / "run")
    assert (tmp_path / "table4.md").is_file()


def test_unknown_variants_and_another_budget_are_refused(tmp_path):
    with pytest.raises(command.RequestError, match=r"unknown variants \['lat_4d'\]"):
        command.select_variants("table3", ["lat", "lat_4d"])
    command.check_budget(str(tmp_path), TINY, "synthetic")
    with pytest.raises(command.RequestError, match="steps: 3 there, 4 here"):
        command.check_budget(str(tmp_path), reproduce.Budget(
            input_size=32, steps=4, batch_size=4, num_train=12, num_test=4, lr=1e-3,
            lr_policy="constant"), "synthetic")


def test_table4_lists_flag_nested_subsets(tmp_path):
    from neural_body_fitting.data import layout

    ids = [f"train_{i:06d}" for i in range(40)]
    layout.write_split_list(str(tmp_path), "train", [(i, 1) for i in ids])
    command.write_fraction_lists(str(tmp_path), [0.0, 0.05, 0.1, 0.2, 0.5])
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
    plots = command.evaluation.plots
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


def test_the_default_budget_is_the_demo_recipe():
    """The tables train with the recipe that `make demo` shows learns the articulated pose."""
    budget, demo = reproduce.Budget(), experiments.get_experiment("demo")
    assert (budget.input_size, budget.batch_size, budget.steps, budget.lr, budget.lr_policy) == (
        demo.input_size, demo.batch_size, demo.max_steps, demo.lr, demo.lr_policy)
    config = reproduce.variant_config(reproduce.TABLES["table3"].variants["lat"], budget, "/d")
    assert (config.bn_decay, config.xla) == (demo.bn_decay, demo.xla)
