"""What every backend runner is: a callable over model-input tensors, plus what the pipeline
must know to feed it (dtype, memory format, size multiple) and a warm-up hook.

A runner takes (N, 3, Hs, Ws) RGB 0..255 sRGB in its `dtype`, channels-last when
`channels_last`, on its device, and returns the same shape and layout, about 0..255,
unclamped. The returned tensor may be a buffer the runner reuses (CUDA graphs): consume it
before the next call. Runners are built off the event loop, once per (style, backend,
precision), and `prepare` does the slow work (compile, capture, tune) for known shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class BackendUnavailable(RuntimeError):
    """The backend or precision cannot run here (missing package, provider or device)."""


def parse_precision(name: str, allowed: Iterable[str]) -> torch.dtype:
    allowed = tuple(allowed)
    if name not in allowed:
        raise ValueError(f"precision {name!r}: expected one of {', '.join(allowed)}")
    return PRECISIONS[name]


class Runner:
    """Base of the backends' runners; subclasses set `name`, `precisions` and `__call__`."""

    name = "abstract"
    precisions: tuple[str, ...] = ("fp32",)
    # torch.export and torch.compile keep process-wide tracing state: two builds of such a
    # backend at once in one process fail ("ProxyTorchDispatchMode slot already occupied")
    serial_build = False

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: str) -> None:
        self.device = torch.device(device)
        self.precision = precision
        self.dtype = parse_precision(precision, self.precisions)
        self.size_multiple = int(getattr(model, "size_multiple", 1))
        self.channels_last = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def example(self, shape: tuple[int, int, int]) -> torch.Tensor:
        """A random model input of (N, Hs, Ws): warm-ups never run on zeros, which can take
        faster paths than real frames."""
        n, h, w = shape
        x = torch.rand((n, 3, h, w), device=self.device).mul_(255).to(self.dtype)
        return x.contiguous(
            memory_format=torch.channels_last if self.channels_last else torch.contiguous_format
        )

    def prepare(self, shapes: Iterable[tuple[int, int, int]]) -> None:
        """Run once at each (N, Hs, Ws) so the first real frame of that size pays nothing."""
        with torch.inference_mode():
            for shape in shapes:
                self(self.example(shape))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> str:
        return f"{self.name} {self.precision}"
