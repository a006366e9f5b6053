"""Thin script over `nbf-stats` (neural_body_fitting/cli/stats.py); same flags."""
from neural_body_fitting.cli.stats import run

if __name__ == "__main__":
    run()
