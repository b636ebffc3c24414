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
    """Weighted (content, style, consistency) losses step by step; `last` holds the latest
    logged means, which are the run's final losses. Consistency is logged only when on."""

    def __init__(
        self,
        t: DictConfig,
        d: Dist,
        device: torch.device,
        writer: Any | None,
        bar: Any,
        first: int,
        start: float,
    ) -> None:
        self.t, self.d, self.device, self.writer, self.bar = t, d, device, writer, bar
        self.first, self.start = first, start
        self.keys = ("content", "style", "consistency")
        self.window = dict.fromkeys(self.keys, 0.0)
        self.n = 0
        self.last = {"content": float("nan"), "style": float("nan")}

    def step(
        self, step: int, content: float, style: float, consistency: float | None = None
    ) -> None:
        for key, value in zip(self.keys, (content, style, consistency or 0.0)):
            self.window[key] += value
        self.n += 1
        t = self.t
        rate = (
            (step - self.first + 1)
            * int(t.batch_size)
            * self.d.world_size
            / (time.perf_counter() - self.start)
        )
        self.bar.set_postfix(
            loss=f"{content + style + (consistency or 0.0):.4g}", img_s=f"{rate:.2f}", refresh=False
        )
        if step % int(t.log_every) == 0 or step == int(t.steps):
            keys = self.keys if consistency is not None else self.keys[:2]
            means = mean_over_ranks(self.d, [self.window[k] / self.n for k in keys], self.device)
            self.last = dict(zip(keys, means))
            self.window, self.n = dict.fromkeys(self.keys, 0.0), 0
            total = sum(self.last.values())
            log_losses(self.writer, step, {**self.last, "total": total})
            log.info(
                "step %d: %s total %.4g (%.2f img/s)",
                step,
                " ".join(f"{k} {v:.4g}" for k, v in self.last.items()),
                total,
                rate,
            )
