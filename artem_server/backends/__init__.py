"""How the server runs a style's model: torch eager, torch optimized, onnxruntime.

`create_runner` builds one; `available_backends` says which can run on a device;
`default_choice` is what a server uses when neither it nor a session names one;
`RunnerCache` keeps the built runners per (style model, backend, precision).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from .base import PRECISIONS, BackendUnavailable, Runner
from .onnx_runtime import OnnxRuntime
from .torch_eager import TorchEager
from .torch_optimized import TorchOptimized

log = logging.getLogger(__name__)

BACKENDS: dict[str, type[Runner]] = {
    cls.name: cls for cls in (TorchEager, TorchOptimized, OnnxRuntime)
}

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "BackendUnavailable",
    "Runner",
    "RunnerCache",
    "available_backends",
    "create_runner",
    "default_choice",
    "default_precision",
    "validate_choice",
]


def available_backends(device: torch.device) -> list[str]:
    """Backends that can run on `device` with what is installed."""
    names = ["torch-eager", "torch-optimized"]
    try:
        import onnxruntime as ort

        if (
            torch.device(device).type == "cpu"
            or "CUDAExecutionProvider" in ort.get_available_providers()
        ):
            names.append("onnxruntime")
    except ImportError:
        pass
    return names


def default_choice(device: torch.device) -> tuple[str, str]:
    """(backend, precision) for a device: fp16 optimized on CUDA, the seed's eager fp32 on CPU."""
    return (
        ("torch-optimized", "fp16")
        if torch.device(device).type == "cuda"
        else ("torch-eager", "fp32")
    )


def default_precision(backend: str, device: torch.device) -> str:
    """The precision a session gets when it names a backend but no precision."""
    cuda = torch.device(device).type == "cuda"
    if backend == "torch-eager":
        return "fp32"
    if backend == "torch-optimized":
        return "fp16" if cuda else "bf16"
    return "fp16" if cuda else "fp32"


def validate_choice(backend: str, precision: str, device: torch.device) -> None:
    """Raise ValueError naming the choices when `backend`/`precision` cannot run on `device`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    here = available_backends(device)
    if backend not in here:
        raise ValueError(
            f"backend {backend!r} is not available on this server: it offers {', '.join(here)}"
        )
    allowed = BACKENDS[backend].precisions
    if backend == "onnxruntime" and torch.device(device).type == "cpu":
        allowed = ("fp32",)
    if precision not in allowed:
        raise ValueError(
            f"precision {precision!r} for {backend}: expected one of {', '.join(allowed)}"
        )


def create_runner(
    backend: str, model: torch.nn.Module, device: torch.device, precision: str, **options: Any
) -> Runner:
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](model, torch.device(device), precision, **options)


_SERIAL_BUILDS = threading.Lock()  # builds of backends with serial_build, process-wide


class RunnerCache:
    """Runners built once per (model, backend, precision), least recently used dropped first.

    The key holds the style's module object, so a reloaded style (a new module) gets new
    runners and the old ones age out. `get` may compile: call it off the event loop."""

    def __init__(
        self,
        device: torch.device,
        capacity: int = 8,
        options: dict[str, dict[str, Any]] | None = None,
        warm_shapes: Callable[[Runner], list[tuple[int, int, int]]] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.capacity = capacity
        self.options = options or {}
        self.warm_shapes = warm_shapes  # runner -> model-input (N, Hs, Ws) to prepare at build
        self._runners: OrderedDict[tuple, Runner] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, model: torch.nn.Module, backend: str, precision: str) -> Runner | None:
        """The runner if it is built (never builds): safe on any thread."""
        key = (model, backend, precision)
        with self._lock:
            runner = self._runners.get(key)
            if runner is not None:
                self._runners.move_to_end(key)
            return runner

    def get(self, model: torch.nn.Module, backend: str, precision: str) -> Runner:
        """The runner, built now if it is not yet (outside the lock: `peek` never waits for a
        build)."""
        runner = self.peek(model, backend, precision)
        if runner is not None:
            return runner
        serial = getattr(BACKENDS.get(backend), "serial_build", False)
        with _SERIAL_BUILDS if serial else contextlib.nullcontext():
            runner = create_runner(
                backend, model, self.device, precision, **self.options.get(backend, {})
            )
            shapes = self.warm_shapes(runner) if self.warm_shapes else []
            if shapes:
                runner.prepare(shapes)
        with self._lock:
            self._runners[(model, backend, precision)] = runner
            while len(self._runners) > self.capacity:
                self._runners.popitem(last=False)
        log.info("built %s for %s", runner.describe(), type(model).__name__)
        return runner

    def __len__(self) -> int:
        return len(self._runners)
