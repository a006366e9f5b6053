"""Specifications of the fitting network, its losses and the training loop."""
import gc
import json
import os
import random
import signal
import socket
import subprocess
import sys
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from neural_body_fitting import configs, data, evaluation, losses, networks, training
from neural_body_fitting.data import synthesis

HELPER = os.path.join(os.path.dirname(__file__), "train_helper.py")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("train_data"))
    synthesis.generate_dataset(path, {"train": 12, "val": 4}, seed=2, latent_fraction=0.5,
                               progress=False)
    return path


@pytest.fixture(scope="module")
def small_model():
    """The fitting network around the tiny encoder: gradients reach any backbone's first
    layer the same way (the ResNet-50 network trains in test_memorisation.py)."""
    config = configs.default_config()
    config.update_from_flattened_dict({"model.fitting.encoder_type": "tiny",
                                       "runtime.compile_body_model": False,
                                       "data.input_size": 32, "optim.seed": 0})
    return networks.build_fitting_model(config)


def a_batch(root, **inputs):
    ds = data.make_dataset(data.load_split(root, "train"), data.FittingInputs(
        input_size=32, **inputs), batch_size=4, shuffle=False, repeat=False)
    return next(iter(ds))


@pytest.mark.parametrize("term,kind", [
    ("model_parameters", "mabserr"), ("joint_locations_betas", "msqerr"),
    ("joint_locations_posed", "euclidist"), ("joint_locations_projected", "euclidist"),
    ("joint_locations_projected", "sqeuclidist_simtrans_neck"),
    ("joint_locations_projected", "tukey_simtrans_hips"),
    ("joint_locations_posed", "euclidist_robust_v1"), ("model_parameters", "gmc_var"),
    ("model_parameters", "gmc_std")])
def test_every_loss_term_reaches_the_encoder(root, small_model, term, kind):
    batch = a_batch(root)
    batch = {**batch, "latent_flag": tf.ones_like(batch["latent_flag"])}
    first_kernel = small_model.encoder.layers[2].kernel  # The first convolution.
    with tf.GradientTape() as tape:
        outputs = small_model(batch["input"], translation=batch["translation"], training=True)
        value = losses.loss_terms_values({term: (kind, 1.0)}, outputs, batch,
                                         tf.ones([226]))[term]
    gradient = tape.gradient(value, first_kernel)
    assert float(value) > 0 and np.abs(gradient.numpy()).max() > 0


def test_batch_without_3d_labels_trains_on_2d_only(root, small_model):
    batch = a_batch(root)
    batch = {**batch, "latent_flag": tf.zeros_like(batch["latent_flag"])}
    terms = {"model_parameters": ("mabserr", 1.0), "joint_locations_posed": ("euclidist", 1.0),
             "joint_locations_projected": ("euclidist", 1.0)}
    variables = small_model.trainable_variables
    gradients = []
    for selected in (terms, {"joint_locations_projected": terms["joint_locations_projected"]}):
        with tf.GradientTape() as tape:
            outputs = small_model(batch["input"], translation=batch["translation"], training=True)
            values = losses.loss_terms_values(selected, outputs, batch)
            total = tf.add_n(list(values.values()))
        gradients.append(tape.gradient(total, variables))
        if len(selected) == 3:
            assert float(values["model_parameters"]) == 0.0
            assert float(values["joint_locations_posed"]) == 0.0
            assert float(values["joint_locations_projected"]) > 0
    for with_all, only_2d in zip(*gradients):
        np.testing.assert_allclose(with_all, only_2d, atol=1e-6)


def test_bad_configs_stop_at_start_up(root, tmp_path):
    config = configs.default_config()
    with pytest.raises(AttributeError):
        config.lrr = 1e-4  # A typo is not a new option.
    for key, value, message in [
            ("model.fitting.encoder_type", "resnet_v9", "config.model.fitting.encoder_type"),
            ("data.input_type", "parts7", "config.data.input_type"),
            ("optim.lr_policy", "cosine", "config.optim.lr_policy")]:
        bad = configs.default_config()
        bad.update_from_flattened_dict({key: value})
        with pytest.raises(ValueError, match=message):
            configs.validate(bad)
    bad = configs.default_config()
    bad.loss.terms.model_parameters = ("l1", 1.0)
    with pytest.raises(ValueError, match="unknown loss kind 'l1'"):
        configs.validate(bad)
    mismatch = configs.default_config()
    mismatch.runtime.dataset_root = root
    mismatch.data.num_landmarks = 24
    with pytest.raises(ValueError, match="the data has 14 landmarks, the config expects 24"):
        training.Trainer(mismatch, str(tmp_path / "run"), progress=False)


def run_helper(*args, timeout=600, float64=False):
    env = dict(os.environ)
    if float64:
        env["HELPER_FLOAT64"] = "1"
    result = subprocess.run([sys.executable, HELPER, *map(str, args)], capture_output=True,
                            text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def parse(stdout, key):
    line = [text for text in stdout.splitlines() if text.startswith(key + " ")][-1]
    return line[len(key) + 1:]


def test_resume_after_sigkill_matches_an_uninterrupted_run(root, tmp_path):
    steps, save_freq = 4, 2
    straight = parse(run_helper("train", root, tmp_path / "straight", steps, save_freq),
                     "WEIGHTS")
    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, HELPER, "train", root, str(killed_dir),
                                str(steps), str(save_freq)], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:  # Kill it right after the step-3 update, past checkpoint 2.
        if line.startswith("STEP 3"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert tf.train.latest_checkpoint(str(killed_dir)).endswith("ckpt-2")
    resumed = parse(run_helper("train", root, killed_dir, steps, save_freq), "WEIGHTS")
    first, second = np.load(straight), np.load(resumed)
    for key in first.files:
        np.testing.assert_allclose(second[key], first[key], rtol=1e-5, atol=1e-6)


def test_mirrored_two_devices_match_one_device(root, tmp_path):
    init = tmp_path / "init.npz"  # Both runs start from the same weights.
    # In float64: Keras' synchronised batch norm computes the variance in one
    # pass, which in float32 loses ~1% of the gradient over ResNet-50's 53
    # layers (see README); in float64 the gradients of both layouts agree to ~1e-13.
    stdout = run_helper("losses", root, tmp_path / "runs", 2, 100, 2, "default,mirrored", init,
                        float64=True)
    one, two = (json.loads(line[len("LOSSES "):]) for line in stdout.splitlines()
                if line.startswith("LOSSES "))
    assert len(one) == 2 and np.all(np.isfinite(one))
    np.testing.assert_allclose(two, one, rtol=1e-5)


def test_two_workers_on_localhost_train_like_one_worker(tmp_path):
    """Each worker reads half of the samples and trains on half of the global batch: the
    losses and final weights are those of one worker on the whole batch, from the same
    initial weights. With as many samples as the global batch (4), every step of either
    layout sees the same samples, only in another order."""
    root = str(tmp_path / "data")
    synthesis.generate_dataset(root, {"train": 4}, seed=2, progress=False)
    init = tmp_path / "init.npz"
    one = run_helper("train", root, tmp_path / "one", 2, 100, 1, "default", init)
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, HELPER, "train", root, str(tmp_path / f"worker{index}"), "2", "100",
             "1", "multi_worker", init], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True))
    outputs = [p.communicate(timeout=600) for p in processes]
    single_weights = np.load(parse(one, "WEIGHTS"))
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
        np.testing.assert_allclose(json.loads(parse(stdout, "LOSSES")),
                                   json.loads(parse(one, "LOSSES")), rtol=1e-5)
        weights = np.load(parse(stdout, "WEIGHTS"))
        for key in single_weights.files:
            np.testing.assert_allclose(weights[key], single_weights[key], rtol=1e-4, atol=1e-6)


def short_run_config(root, changes=None):
    """Two steps of the tiny encoder at 32 px on the module's small dataset."""
    config = configs.default_config()
    config.update_from_flattened_dict({
        "runtime.dataset_root": root, "model.fitting.encoder_type": "tiny",
        "runtime.compile_body_model": False,
        "data.input_size": 32, "optim.batch_size": 4, "runtime.max_steps": 2,
        "runtime.save_freq": 2, "runtime.summary_freq": 1000, "runtime.image_summaries": False,
        "optim.seed": 0, **(changes or {})})
    return config


def test_latent_with_translation_trains_and_evaluates(root, tmp_path):
    config = short_run_config(root, {
        "model.fitting.latent_components": "betas,pose,trans",
        "model.fitting.use_gt_translation": False, "runtime.eval_split": "val",
        "runtime.validation_freq": 1})
    run_dir = str(tmp_path / "run")
    trainer = training.Trainer(config, run_dir, progress=False)
    assert trainer.model.latent_size == 228
    validator = evaluation.Validator(trainer)
    assert np.isfinite(trainer.train(on_step=validator)["loss"]) and trainer.step == 2
    # Held-out metrics after every step, in validation.csv and TensorBoard.
    rows = evaluation.read_validation_csv(os.path.join(run_dir, "validation.csv"))
    assert [row["step"] for row in rows] == [1, 2]
    assert all(np.isfinite(row["mean_recon_err"]) for row in rows)
    assert os.listdir(os.path.join(run_dir, "validation"))
    # The latent's translation is the translation's x and y, centred like the rest.
    stats_mean = trainer.run.statistics[0]
    batch = a_batch(root, latent_components="betas,pose,trans", latent_mean=stats_mean)
    np.testing.assert_allclose(batch["latent"][:, 226:],
                               batch["translation"][:, :2] - stats_mean[226:228], atol=1e-5)
    outputs = trainer.model(batch["input"])
    full = outputs["latent"][:, 226:] + stats_mean[226:228]
    np.testing.assert_allclose(outputs["translation"][:, :2], full, atol=1e-5)
    np.testing.assert_allclose(outputs["translation"][:, 2], 20.3, atol=1e-5)
    summary = evaluation.run_evaluation(config, run_dir, "val")
    assert summary["num_samples"] == 4
    assert all(np.isfinite(summary[f"mean_{key}"]) for key in evaluation.METRICS)


def test_mixed_precision_trains_and_keeps_the_body_in_float32(root, tmp_path):
    policy, python_random = keras.config.dtype_policy().name, random.getstate()
    trainer = training.Trainer(short_run_config(root, {"optim.mixed_precision": True}),
                               str(tmp_path / "run"), progress=False)
    model = trainer.model
    assert model.encoder.layers[2].compute_dtype == "float16"
    assert model.head.compute_dtype == model.smpl.compute_dtype == "float32"
    outputs = model(a_batch(root)["input"])
    for key in ("latent", "rotations", "smpl_joints", "landmarks_2d"):
        assert outputs[key].dtype == tf.float32, key
    metrics = trainer.train()
    assert trainer.step == 2 and np.isfinite(metrics["loss"])
    # Building and training changed no process-wide state.
    assert keras.config.dtype_policy().name == policy
    assert random.getstate() == python_random


def _traced_step_of_a_finished_trainer(config, run_dir):
    """A weak reference to the traced training step of a trainer that is gone."""
    trainer = training.Trainer(config, run_dir, progress=False)
    trainer.train()
    batch = {k: v for k, v in next(trainer.iterator).items() if k not in ("id", "path")}
    return weakref.ref(trainer._train_step.get_concrete_function(batch).graph)


def test_a_finished_trainer_leaves_nothing_behind(root, tmp_path):
    # A sweep, a notebook or this suite builds many trainers in one process.
    # Batch norm's and the optimizer's all-reduces are tf.custom_gradients
    # that TensorFlow's global gradient registry would keep with their traced
    # step, and the step keeps the weights (hundreds of MB with a ResNet).
    step = _traced_step_of_a_finished_trainer(short_run_config(root), str(tmp_path / "run"))
    gc.collect()
    assert step() is None


def apply_function(optimizer, variables):
    @tf.function(autograph=False)
    def apply(gradients):
        optimizer.apply(gradients, variables)

    return apply


def reference_adam(start, gradients, learning_rates, beta_1, beta_2, epsilon):
    """Adam (Kingma and Ba's algorithm 1 with ε̂, as TF1 and Keras write it) in float64."""
    values = [np.array(v, np.float64) for v in start]
    moments = [[np.zeros_like(v), np.zeros_like(v)] for v in values]
    for step, (grads, rate) in enumerate(zip(gradients, learning_rates), 1):
        alpha = rate * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
        for value, (m, v), g in zip(values, moments, grads):
            m += (g - m) * (1 - beta_1)
            v += (g * g - v) * (1 - beta_2)
            value -= alpha * m / (np.sqrt(v) + epsilon)
    return values


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_the_fused_adam_steps_as_adam(dtype):
    """trainer.Adam (one ResourceApplyAdam per variable) against Adam in NumPy: five steps
    of a decaying learning rate, in a tf.function, float32 and float64 variables."""
    rng = np.random.default_rng(1)
    start = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    gradients = [[rng.normal(size=np.shape(v)) for v in start] for _ in range(5)]
    schedule = keras.optimizers.schedules.PolynomialDecay(1e-2, 5, 0.0, power=0.9)
    optimizer = training.trainer.Adam(schedule, beta_1=0.5)
    variables = [keras.Variable(tf.constant(v, dtype)) for v in start]
    optimizer.build(variables)
    step = apply_function(optimizer, variables)
    for grads in gradients:
        step([tf.constant(g, dtype) for g in grads])
    rates = [float(schedule(k)) for k in range(5)]
    expected = reference_adam(start, gradients, rates, 0.5, optimizer.beta_2, optimizer.epsilon)
    for variable, value, initial in zip(variables, expected, start):
        assert np.abs(value - initial).max() > 0.01
        np.testing.assert_allclose(variable.numpy(), value,
                                   rtol=1e-6 if dtype == tf.float32 else 1e-12,
                                   atol=1e-7 if dtype == tf.float32 else 0)


def test_the_same_seed_builds_the_same_weights_without_global_seeding():
    config = configs.default_config()
    config.data.input_size = 32  # ResNet-50: every initializer of the paper's network is seeded.
    config.runtime.compile_body_model = False  # The body model has no weights to draw.
    first, second = (networks.build_fitting_model(config).get_weights() for _ in range(2))
    config.optim.seed = 1
    other = networks.build_fitting_model(config).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
