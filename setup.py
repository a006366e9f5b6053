"""Installs the `neural_body_fitting` package (TensorFlow 2 Neural Body Fitting)."""
import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent


def _requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="neural_body_fitting",
    version="0.3.0.dev0",
    description="Neural Body Fitting (Omran et al., 3DV 2018) in TensorFlow 2",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["neural_body_fitting", "neural_body_fitting.*"]),
    # The pose bank derived from CMU motion capture, and its NOTICE (credit line).
    package_data={"neural_body_fitting.body": ["assets/*"]},
    install_requires=_requirements(),
    extras_require={"test": ["pytest>=7", "pytest-xdist>=3", "hypothesis>=6"]},
    entry_points={
        "console_scripts": [
            f"nbf-{command.replace('_', '-')}=neural_body_fitting.cli.{module}:run"
            for command, module in (
                ("train", "train"), ("eval", "evaluate"), ("demo", "demo"),
                ("make_data", "make_data"), ("stats", "stats"),
                ("prepare_up3d", "prepare_up3d"), ("port", "port"),
                ("reproduce", "reproduce"), ("infer", "infer"), ("export", "export"),
                ("pose_bank", "pose_bank"), ("models", "models"))
        ]
    },
)
