"""Data-parallel training under `torchrun` (`trainer.ddp=true`): one process per device, each
training on its own shard of the content images; DistributedDataParallel averages the gradients,
so every rank holds the same weights. Rank 0 alone logs, checkpoints, samples and exports.

Backend: NCCL on CUDA, gloo on CPU (what torch supports for each).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .errors import ConfigError

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Dist:
    """This process's place in the job; `Dist()` is the single-process case."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False  # in a process group (trainer.ddp=true)

    @property
    def main(self) -> bool:
        return self.rank == 0


def join(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the torchrun job; returns this rank and its device (`cuda:LOCAL_RANK` on CUDA).
    Other ranks log warnings only."""
    missing = [v for v in TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise ConfigError(
            "trainer.ddp",
            f"true needs a torchrun launch ({', '.join(missing)} not set): "
            "torchrun --nproc_per_node N -m artem_training.app ...",
        )
    d = Dist(
        int(os.environ["RANK"]),
        int(os.environ["WORLD_SIZE"]),
        int(os.environ["LOCAL_RANK"]),
        enabled=True,
    )
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if not d.main:
        logging.getLogger("artem_training").setLevel(logging.WARNING)
    return d, device


def leave(d: Dist) -> None:
    """Wait for every rank (so rank 0's export is on disk for the others), then leave the group."""
    if d.enabled:
        dist.barrier()
        dist.destroy_process_group()


def mean_over_ranks(d: Dist, values: list[float], device: torch.device) -> list[float]:
    """Each value averaged over the ranks (the losses rank 0 logs are the whole job's)."""
    if not d.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)  # NCCL reduces device tensors only
    dist.all_reduce(t)
    return (t / d.world_size).tolist()


class Shard:
    """Content images `rank`, `rank + world_size`, ... of `source` (DistributedSampler's split),
    so no two ranks train on the same image."""

    def __init__(self, source: Any, d: Dist) -> None:
        if len(source) < d.world_size:
            raise ConfigError(
                "trainer.ddp",
                f"{len(source)} content images cannot be shared by {d.world_size} ranks",
            )
        self.source, self.indices = source, list(range(d.rank, len(source), d.world_size))
        self.description = f"{source.description} (rank {d.rank}: {len(self.indices)} of them)"

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.source[self.indices[i]]
