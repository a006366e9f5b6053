"""Trains the fitting network or, with a segmentation config, the part segmenter.

    nbf-train --config=demo_up \
        --config.runtime.dataset_root=/data/up3d_nbf --model_dir=/runs/up3d [--config.optim.lr=1e-4]
    nbf-train --config=segmentation_refinenet \
        --config.runtime.dataset_root=/data/up3d_nbf --model_dir=/runs/up3d_segmenter

Creates the run in --model_dir (config, body model and data recorded in
run.json) or resumes it from its latest checkpoint; one process at a time
(another is refused, naming it). SIGINT or SIGTERM saves and stops. Resuming without
--config uses the run's recorded config; a config, body model or training
data that contradict the record are refused unless --allow_run_changes.
Multi-GPU:
--config.runtime.strategy=mirrored; several machines: --config.runtime.strategy=multi_worker
with TF_CONFIG set on each.
"""
from absl import flags, logging

from neural_body_fitting import evaluation, training
from neural_body_fitting.cli import common

CONFIG = common.define_config_flag()
MODEL_DIR = flags.DEFINE_string("model_dir", None, "Checkpoints, summaries, logs.", required=True)
SMPL_MODEL = common.define_smpl_model_flag()
ALLOW_RUN_CHANGES = common.define_allow_run_changes_flag()
MAX_SECONDS = flags.DEFINE_float("max_seconds", 0, "Stop (and save) after this long; 0: no limit.")


def run_training(config, model_dir, max_seconds=0, allow_run_changes=False):
    # The Trainer checks everything before it writes the run; only then the log file, so a
    # refused command creates no directory, no empty log and leaves train.INFO alone.
    trainer = training.Trainer(config, model_dir, allow_run_changes=allow_run_changes)
    logging.get_absl_handler().use_absl_log_file("train", model_dir)
    validate = evaluation.Validator(trainer) if config.runtime.validation_freq else None
    metrics = trainer.train(max_seconds=max_seconds or None, on_step=validate)
    logging.info("finished at step %d: %s", trainer.step, metrics)
    return trainer


def main(argv):
    del argv
    config = common.config_for_run(CONFIG, MODEL_DIR.value)
    if SMPL_MODEL.value:
        config.model.body_model = SMPL_MODEL.value
    trainer = run_training(config, MODEL_DIR.value, MAX_SECONDS.value, ALLOW_RUN_CHANGES.value)
    if trainer.stopped_by:
        print(f"{trainer.stopped_by} received: stopped and saved; the same command resumes")
    print(f"step {trainer.step}; checkpoint {trainer.manager.latest_checkpoint}")


def run():
    common.run_command(main, CONFIG)


if __name__ == "__main__":
    run()
