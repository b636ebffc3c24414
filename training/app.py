"""`artem-train`: the Hydra command-line wrapper around `train(cfg)`, and nothing more.

artem-train experiment=default_style          # the shipped `tessera` style
artem-train data=folder data.content_dir=~/coco style.image=starry.jpg export.name=starry
artem-train debug=default export.name=smoke   # a few steps at 64x64
artem-train -m debug=default loss.random_fallback.style_weight=1e3,1e4   # a sweep
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from .sweep import job_name, write_job_record
from .train import train

# An absolute file path, not a module path: `configs/` is package data, not a Python package.
CONFIG_DIR = str(Path(__file__).resolve().parent / "configs")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    """Hydra entry point; returns the final loss (what a sweeper would minimise). In a multirun
    each job's entry is named `<export.name>-<job number>`, so jobs never overwrite each other."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    if multirun:
        cfg.export.name = job_name(cfg.export.name, hc.job.num)
    command = shlex.join(["artem-train", *sys.argv[1:]])
    result = train(cfg, command=command)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for the job
        write_job_record(
            result.run_dir,
            hc.job.num if multirun else None,
            list(hc.overrides.task),
            result.metrics,
            result.entry.path,
        )
    return result.metrics["loss"]


if __name__ == "__main__":
    main()
