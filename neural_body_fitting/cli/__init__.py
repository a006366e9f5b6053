"""The commands, each runnable as `python -m neural_body_fitting.cli.<name>` and
installed as a console script (setup.py):

  nbf-train         cli/train.py         train the fitting network
  nbf-eval          cli/evaluate.py      evaluate a run on a split
  nbf-demo          cli/demo.py          `make demo`: data, training, evaluation
  nbf-make-data     cli/make_data.py     write a synthetic dataset
  nbf-stats         cli/stats.py         latent statistics of a split
  nbf-prepare-up3d  cli/prepare_up3d.py  convert the UP-3D release
  nbf-port          cli/port.py          port an original TF1 checkpoint
  nbf-reproduce     cli/reproduce.py     the paper's Tables 1 to 4 at reduced scale
  nbf-models        cli/models.py        fetch the person detector's model files

Nothing in the library imports this package.
"""
