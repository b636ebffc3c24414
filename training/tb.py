"""TensorBoard logs of a run (losses, the sample grid), when the `tensorboard` package is
installed. It is optional: without it a run says so in one info line and logs as before."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


def open_writer(log_dir: Path) -> Any | None:
    """A `torch.utils.tensorboard.SummaryWriter` on `log_dir`, or None without tensorboard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch's module imports the tensorboard package
        log.info(
            "tensorboard is not installed: no TensorBoard logs (pip install -e '.[tensorboard]')"
        )
        return None
    log.info("TensorBoard logs in %s", log_dir)
    return SummaryWriter(log_dir=str(log_dir))


def log_losses(writer: Any | None, step: int, losses: dict[str, float]) -> None:
    """Scalars `loss/<name>` at `step`."""
    if writer is not None:
        for name, value in losses.items():
            writer.add_scalar(f"loss/{name}", value, step)


def log_grid(writer: Any | None, step: int, grid: Image.Image) -> None:
    """The sample grid as image `samples` ((H, W, 3) uint8 RGB, HWC)."""
    if writer is not None:
        writer.add_image("samples", np.asarray(grid.convert("RGB")), step, dataformats="HWC")
        writer.flush()
