"""Trains the fitting network.

    python -m neural_body_fitting.train --config=experiments/demo_up.py \
        --config.dataset_root=/data/up3d_nbf --model_dir=/runs/up3d [--config.lr=1e-4]

Resumes from the latest checkpoint in --model_dir. Multi-GPU:
--config.strategy=mirrored; several machines: --config.strategy=multi_worker
with TF_CONFIG set on each.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from neural_body_fitting import training  # noqa: E402

CONFIG = config_flags.DEFINE_config_file("config", "experiments/demo_up.py", "Experiment config.")
MODEL_DIR = flags.DEFINE_string("model_dir", None, "Checkpoints, summaries, logs.", required=True)
MAX_SECONDS = flags.DEFINE_float("max_seconds", 0, "Stop (and save) after this long; 0: no limit.")


def run_training(config, model_dir, max_seconds=0):
    os.makedirs(model_dir, exist_ok=True)
    logging.get_absl_handler().use_absl_log_file("train", model_dir)
    trainer = training.Trainer(config, model_dir)
    metrics = trainer.train(max_seconds=max_seconds or None)
    logging.info("finished at step %d: %s", trainer.step, metrics)
    return trainer


def main(argv):
    del argv
    trainer = run_training(CONFIG.value, MODEL_DIR.value, MAX_SECONDS.value)
    print(f"step {trainer.step}; checkpoint {trainer.manager.latest_checkpoint}")


def run():
    app.run(main)


if __name__ == "__main__":
    run()
