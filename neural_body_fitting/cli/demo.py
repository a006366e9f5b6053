"""`make demo`: generate data, train the fitting network on the CPU, evaluate, plot.

    nbf-demo [--output_dir=demo_output] [--steps=1200] [--num_train=1500] [--num_test=128]

The steps, and the margins over the mean pose the demo has to show:
`neural_body_fitting/reproduction/demo.py`. A second call reuses the data
and the finished run and only evaluates again.
"""
from absl import flags, logging

from neural_body_fitting import reproduction, training
from neural_body_fitting.cli import common
from neural_body_fitting.configs import demo

OUTPUT_DIR = flags.DEFINE_string("output_dir", "demo_output", "Data and run directory.")
SMPL_MODEL = common.define_smpl_model_flag()
STEPS = flags.DEFINE_integer("steps", 0, "Training steps (0: the demo config's 1200).")
NUM_TRAIN = flags.DEFINE_integer("num_train", demo.NUM_TRAIN, "Training samples to generate.")
NUM_TEST = flags.DEFINE_integer("num_test", demo.NUM_TEST, "Held-out samples to generate.")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # Keep the console to the demo's own output.
    try:
        reproduction.run_demo(OUTPUT_DIR.value, SMPL_MODEL.value, STEPS.value, NUM_TRAIN.value,
                              NUM_TEST.value)
    except training.runs.RunMismatchError as error:
        raise SystemExit(str(error))


def run():
    common.run_command(main)


if __name__ == "__main__":
    run()
