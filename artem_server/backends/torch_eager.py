"""torch eager: the module as written, in the chosen precision. The baseline every other
backend is measured and checked against (eager fp32)."""

from __future__ import annotations

import copy

import torch

from .base import Runner


class TorchEager(Runner):
    name = "torch-eager"
    precisions = ("fp32", "fp16", "bf16")

    def __init__(
        self, model: torch.nn.Module, device: torch.device, precision: str = "fp32"
    ) -> None:
        super().__init__(model, device, precision)
        if self.device.type == "cpu" and self.dtype == torch.float32:
            self.model = model  # the registry's CPU fp32 module itself: the answer of the seed
        else:
            self.model = copy.deepcopy(model).to(self.device, self.dtype).eval()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
