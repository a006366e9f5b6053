"""Ports an original NBF TF1 fitting checkpoint to a TF2 checkpoint and Keras weights.

    nbf-port --tf1_checkpoint=/old/model.ckpt-100000 \
        --config=demo_up --latent_stats=/data/up3d/latent_stats \
        --output_dir=/runs/ported

Prints every assigned, missing, unmapped and ignored (optimizer bookkeeping)
variable count; a shape mismatch stops with the variable's name.
"""

from absl import flags

from neural_body_fitting import configs, networks, porting
from neural_body_fitting.cli import common
from neural_body_fitting.data import statistics

CONFIG = common.define_config_flag()
TF1_CHECKPOINT = flags.DEFINE_string("tf1_checkpoint", None, "TF1 checkpoint prefix or folder.",
                                     required=True)
LATENT_STATS = flags.DEFINE_string("latent_stats", None,
                                   "Prefix of <prefix>_mean.npy (the run's latent statistics).")
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write.", required=True)
SMPL_MODEL = common.define_smpl_model_flag()
ALLOW_MISSING = flags.DEFINE_bool("allow_missing", False, "Keep initial values for missing ones.")


def main(argv):
    del argv
    config = configs.validate(CONFIG.value)
    if SMPL_MODEL.value:
        config.body_model = SMPL_MODEL.value
    mean = None
    if LATENT_STATS.value:
        mean, _ = statistics.load_latent_statistics(LATENT_STATS.value, "--latent_stats")
    model = networks.build_fitting_model(config, mean)
    report, checkpoint, weights = porting.port_fitting_checkpoint(
        TF1_CHECKPOINT.value, model, OUTPUT_DIR.value, ALLOW_MISSING.value)
    for key in ("assigned", "missing", "unmapped", "ignored"):
        print(f"{key}: {len(report[key])}")
        if key in ("missing", "unmapped"):
            for name in report[key]:
                print(f"  {name}")
    print(f"TF2 checkpoint: {checkpoint}\nKeras weights: {weights}")


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
