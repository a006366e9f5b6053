"""Ports an original NBF TF1 checkpoint (either stage) to a TF2 checkpoint and Keras weights.

    nbf-port --tf1_checkpoint=/old/model.ckpt-100000 \
        --config=demo_up --latent_stats=/data/up3d/latent_stats \
        --output_dir=/runs/ported
    nbf-port --tf1_checkpoint=/old/refinenet_up/model.ckpt-22000 \
        --output_dir=/runs/ported_segmenter

The stage (the fitting network or the segmenter) is read from the
checkpoint's variable names; with --stage, a checkpoint of the other stage
is refused before any network is built. Prints every assigned, missing, unmapped and ignored
(optimizer bookkeeping) variable count; a shape mismatch stops with the
variable's name.
"""

from absl import flags

from neural_body_fitting import configs, networks, porting
from neural_body_fitting.cli import common
from neural_body_fitting.data import statistics
from neural_body_fitting.utils import outputs

CONFIG = common.define_config_flag()
TF1_CHECKPOINT = flags.DEFINE_string("tf1_checkpoint", None, "TF1 checkpoint prefix or folder.",
                                     required=True)
STAGE = flags.DEFINE_enum("stage", None, ["fitting", "segmentation"],
                          "The network the checkpoint must hold (default: whichever it holds).")
LATENT_STATS = flags.DEFINE_string("latent_stats", None,
                                   "fitting: prefix of <prefix>_mean.npy (the run's latent "
                                   "statistics).")
SEGMENTER = flags.DEFINE_string("segmenter", "refinenet_resnet_v1_101",
                                "segmentation: the segmenter the checkpoint holds.")
SEGMENTATION_SIZE = flags.DEFINE_integer("segmentation_input_size", 512,
                                         "segmentation: the input size of the ported model.")
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write: a new or empty folder, "
                                 "or an earlier nbf-port output with --overwrite.", required=True)
OVERWRITE = common.define_overwrite_flag("an earlier nbf-port output at --output_dir")
SMPL_MODEL = common.define_smpl_model_flag()
ALLOW_MISSING = flags.DEFINE_bool("allow_missing", False, "Keep initial values for missing ones.")


def port_fitting(path):
    config = configs.validate(CONFIG.value)
    if SMPL_MODEL.value:
        config.model.body_model = SMPL_MODEL.value
    mean = None
    if LATENT_STATS.value:
        mean, _ = statistics.load_latent_statistics(LATENT_STATS.value, "--latent_stats")
    model = networks.build_fitting_model(config, mean)
    return porting.port_fitting_checkpoint(path, model, OUTPUT_DIR.value, ALLOW_MISSING.value)


def port_segmentation(path):
    model = networks.build_segmentation_model(SEGMENTER.value, SEGMENTATION_SIZE.value)
    return porting.port_segmentation_checkpoint(path, model, OUTPUT_DIR.value,
                                                ALLOW_MISSING.value)


def main(argv):
    del argv
    path = TF1_CHECKPOINT.value
    outputs.claim(OUTPUT_DIR.value, "--output_dir", OVERWRITE.value)
    stage = porting.detect_stage(path)
    if STAGE.value not in (None, stage):
        raise ValueError(f"{path}: --stage={STAGE.value}, but this is a {stage} checkpoint "
                         f"(variables under '{porting.STAGE_SCOPES[stage]}')")
    print(f"{path}: {stage} checkpoint")
    port = port_fitting if stage == "fitting" else port_segmentation
    report, checkpoint, weights = port(path)
    outputs.mark(OUTPUT_DIR.value, "nbf-port")
    for key in ("assigned", "missing", "unmapped", "ignored"):
        print(f"{key}: {len(report[key])}")
        if key in ("missing", "unmapped"):
            for name in report[key]:
                print(f"  {name}")
    print(f"TF2 checkpoint: {checkpoint}\nKeras weights: {weights}")


def run():
    common.run_command(main, CONFIG)


if __name__ == "__main__":
    run()
