"""The commands: named experiments, quiet start-up, and a built (non-editable) package."""
import os
import pkgutil
import subprocess
import sys

import pytest
from serving_helpers import untrained_fitting_run

from neural_body_fitting import cli
from neural_body_fitting.cli import startup
from neural_body_fitting.configs import experiments

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What TensorFlow's C++ start-up prints on a machine without a GPU.
START_UP_NOISE = ("cuda", "E0000", "I0000", "oneDNN", "absl::InitializeLog")


def test_named_experiments_resolve_and_files_stay(tmp_path):
    config_file = tmp_path / "mine.py"
    config_file.write_text("")
    argv = ["prog", "--config=ablations:table3_lat", "--config", "demo", "--model_dir=x",
            f"--config={config_file}", "--config.optim.lr=1"]
    resolved = startup.resolve_config_argument(argv)
    assert resolved[1] == "--config=" + experiments.experiment_path("ablations:table3_lat")
    assert resolved[1].endswith(os.path.join("configs", "ablations.py:table3_lat"))
    assert resolved[3] == experiments.experiment_path("demo")
    assert resolved[4:] == argv[4:]
    with pytest.raises(ValueError, match="unknown experiment 'demo_upp'"):
        experiments.get_experiment("demo_upp")
    assert experiments.get_experiment("demo_up").data.num_landmarks == 24
    assert experiments.get_experiment("ablations:table1_rgb").data.input_type == "rgb"


@pytest.fixture(scope="module")
def built_package(tmp_path_factory):
    """The package as `pip install .` would install it (setup.py build), without the checkout."""
    base = tmp_path_factory.mktemp("build")
    lib = base / "lib"
    subprocess.run([sys.executable, "setup.py", "-q", "build", f"--build-base={base / 'tmp'}",
                    f"--build-lib={lib}"], cwd=REPO, check=True, capture_output=True)
    return str(lib)


def run_installed(lib, args, cwd):
    env = dict(os.environ, PYTHONPATH=lib)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # The commands must be quiet on their own.
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_built_package_finds_its_experiments_without_the_checkout(built_package, tmp_path):
    script = (
        "import os, neural_body_fitting as nbf\n"
        "from neural_body_fitting.configs import experiments\n"
        f"assert nbf.__file__.startswith({built_package!r}), nbf.__file__\n"
        "for name in experiments.EXPERIMENTS:\n"
        "    assert os.path.isfile(experiments.experiment_path(name))\n"
        "print(experiments.get_experiment('demo').data.input_size,\n"
        "      experiments.get_experiment('ablations:table4_3d020').loss.terms.keys())\n")
    result = run_installed(built_package, ["-c", script], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("96 ")


def test_commands_run_from_the_built_package_without_start_up_noise(built_package, tmp_path):
    data = tmp_path / "data"
    made = run_installed(built_package, [
        "-m", "neural_body_fitting.cli.make_data", f"--output_dir={data}", "--num_train=2",
        "--num_val=0", "--num_test=0", "--workers=1"], cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    stats = run_installed(built_package, [
        "-m", "neural_body_fitting.cli.stats", f"--dataset_root={data}",
        f"--output={tmp_path / 'stats'}"], cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    assert (tmp_path / "stats_mean.npy").is_file()
    for result in (made, stats):
        noise = [word for word in START_UP_NOISE if word in result.stderr]
        assert not noise, result.stderr
    verbose = run_installed(built_package, [
        "-m", "neural_body_fitting.cli.stats", f"--dataset_root={data}",
        f"--output={tmp_path / 'stats2'}", "--verbosity=1"], cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    # --verbosity lets TensorFlow's own start-up messages through: the noise hidden above.
    assert any(word in verbose.stderr for word in START_UP_NOISE), verbose.stderr


def test_a_saving_command_prints_only_its_own_line(built_package, tmp_path):
    """nbf-export writes a SavedModel, whose savers log each file at INFO."""
    fitting_run = untrained_fitting_run(str(tmp_path / "run"))
    exported = run_installed(built_package, [
        "-m", "neural_body_fitting.cli.export", f"--fitting_run={fitting_run}",
        f"--output={tmp_path / 'export'}"], cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert exported.stderr == "", exported.stderr
    assert exported.stdout == f"SavedModel -> {tmp_path / 'export'}\n"


@pytest.mark.parametrize("command", ["demo", "make_data", "stats", "prepare_up3d", "infer",
                                     "export", "reproduce", "models", "pose_bank"])
def test_commands_do_not_load_tensorflow_on_import(command):
    """A command module that imported TensorFlow itself would print its start-up noise
    before `startup.quiet_tensorflow` could hide it."""
    script = (f"import sys, neural_body_fitting.cli.{command}\n"
              "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_a_command_refuses_its_arguments_before_loading_tensorflow(tmp_path):
    """The command line is prepared (quiet start-up, flags) and a user's folder refused
    without loading TensorFlow: a refusal takes a fraction of a second, not ~4 s."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my notes")
    script = (
        "import sys\n"
        "from neural_body_fitting.cli import export\n"
        f"sys.argv = ['nbf-export', '--fitting_run=x', '--output={tmp_path / 'mine'}']\n"
        "try:\n"
        "    export.run()\n"
        "except SystemExit as stop:\n"
        "    print('refused:', 'not written by this library' in str(stop.code),\n"
        "          'tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "refused: True False", result.stdout + result.stderr


@pytest.mark.parametrize("module", sorted(m.name for m in pkgutil.iter_modules(cli.__path__)))
def test_importing_a_command_module_leaves_argv_and_stderr_alone(module):
    """Only running a command (`common.run_command`) resolves `--config=<experiment>` and
    points descriptor 2 at /dev/null; importing one, from a test or a tool, does neither."""
    script = ("import os, sys\n"
              "argv, before = list(sys.argv), os.fstat(2)\n"
              f"import neural_body_fitting.cli.{module}\n"
              "after = os.fstat(2)\n"
              "assert sys.argv == argv, (argv, sys.argv)\n"
              "assert (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino)\n"
              "print('untouched', file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", script, "--config=demo",
                             "--config.optim.lr=1", "--config.no_such_key=1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("untouched")
