"""Thin script over `nbf-port` (neural_body_fitting/cli/port.py); same flags."""
from neural_body_fitting.cli.port import run

if __name__ == "__main__":
    run()
