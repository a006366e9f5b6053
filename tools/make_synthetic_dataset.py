"""Thin script over `nbf-make-data` (neural_body_fitting/cli/make_data.py); same flags."""
from neural_body_fitting.cli.make_data import run

if __name__ == "__main__":
    run()
