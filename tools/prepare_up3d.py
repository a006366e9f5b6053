"""Thin script over `nbf-prepare-up3d` (neural_body_fitting/cli/prepare_up3d.py); same flags."""
from neural_body_fitting.cli.prepare_up3d import run

if __name__ == "__main__":
    run()
