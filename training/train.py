"""`train(cfg)`: a composed config to a models-directory entry, for any model kind.

It resolves the config and hands it to the module of the kind the model config names
(`model.kind`, `kinds/<kind>.py`); that module trains on the shared scaffold (`run.py`). It
needs nothing of Hydra's runtime, so tests and notebooks call it directly; `app.py` is only
the command-line wrapper.
"""

from __future__ import annotations

from omegaconf import DictConfig

from .kinds import kind_module
from .run import RunResult, resolve


def train(cfg: DictConfig, command: str | None = None) -> RunResult:
    """Train, sample and export what `cfg` describes. `command` is recorded in the card (the CLI
    line). An unknown `model.kind` fails naming the field, before anything is built."""
    cfg = resolve(cfg)
    return kind_module(cfg).train(cfg, command=command)
