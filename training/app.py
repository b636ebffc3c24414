"""`artem-train`: the Hydra command-line wrapper around `train(cfg)`, and nothing more.

    artem-train experiment=default_style          # the shipped `tessera` style
    artem-train data=folder data.content_dir=~/coco style.image=starry.jpg export.name=starry
    artem-train debug=default export.name=smoke   # a few steps at 64x64
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from .train import train

# An absolute file path, not a module path: `configs/` is package data, not a Python package.
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the final loss (what a sweeper would minimise)."""
    command = shlex.join(["artem-train", *sys.argv[1:]])
    return train(cfg, command=command).metrics["loss"]


if __name__ == "__main__":
    main()
