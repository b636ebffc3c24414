"""What a training loop reports as it goes, the same for every model kind: each step's loss and
images/s on the progress bar; every `trainer.log_every` steps (and at the last) the losses
averaged over those steps and over the ranks, to the log and TensorBoard."""

from __future__ import annotations

import logging
import time
from typing import Any

import torch
from omegaconf import DictConfig

from .distributed import Dist, mean_over_ranks
from .tb import log_losses

log = logging.getLogger(__name__)


class StepLog:
    """Weighted (content, style) losses step by step; `last` holds the latest logged means,
    which are the run's final losses."""

    def __init__(self, t: DictConfig, d: Dist, device: torch.device, writer: Any | None, bar: Any,
                 first: int, start: float) -> None:
        self.t, self.d, self.device, self.writer, self.bar = t, d, device, writer, bar
        self.first, self.start = first, start
        self.window = {"content": 0.0, "style": 0.0, "n": 0}
        self.last = {"content": float("nan"), "style": float("nan")}

    def step(self, step: int, content: float, style: float) -> None:
        self.window["content"] += content
        self.window["style"] += style
        self.window["n"] += 1
        t = self.t
        rate = (step - self.first + 1) * int(t.batch_size) * self.d.world_size / (time.perf_counter() - self.start)
        self.bar.set_postfix(loss=f"{content + style:.4g}", img_s=f"{rate:.2f}", refresh=False)
        if step % int(t.log_every) == 0 or step == int(t.steps):
            w = self.window
            means = mean_over_ranks(self.d, [w["content"] / w["n"], w["style"] / w["n"]], self.device)
            self.last = dict(zip(("content", "style"), means))
            self.window = {"content": 0.0, "style": 0.0, "n": 0}
            total = self.last["content"] + self.last["style"]
            log_losses(self.writer, step, {**self.last, "total": total})
            log.info("step %d: content %.4g style %.4g total %.4g (%.2f img/s)", step, self.last["content"],
                     self.last["style"], total, rate)
