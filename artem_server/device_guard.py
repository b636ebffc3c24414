"""Device faults during a frame, turned into answers the client can act on.

- Out of memory (a huge frame, a crowded GPU): that frame is refused with RESOURCE_EXHAUSTED,
  torch's cached blocks go back to the driver (after the failed frame's tensors are freed, or
  the cache would keep them), and the next frame runs as usual.
- Any other device error (an illegal access, a lost device): the frame gets UNAVAILABLE and
  the health monitor is told, so health turns NOT_SERVING until a probe of the device passes.

It wraps the engine's Pipeline (`GuardedPipeline`), so every backend, both eyes and every
transport pass through it on the model thread.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import ResourceExhausted, Unavailable
from .frames import View
from .pipeline import Pipeline

log = logging.getLogger(__name__)

_ACCELERATOR_ERROR = getattr(torch, "AcceleratorError", ())  # torch >= 2.8
_DEVICE_MARKERS = (
    "CUDA error",
    "CUBLAS_STATUS",
    "cuDNN error",
    "CUDNN_STATUS",
    "device-side assert",
)


def is_device_error(e: BaseException) -> bool:
    """An error of the device itself (not of the input): what makes the device unusable."""
    if _ACCELERATOR_ERROR and isinstance(e, _ACCELERATOR_ERROR):
        return True
    return isinstance(e, RuntimeError) and any(m in str(e) for m in _DEVICE_MARKERS)


def release_cached_memory(device: torch.device) -> bool:
    """Give torch's cached, unused device blocks back to the driver; True when there was a
    CUDA cache to empty (never on a process that has not used CUDA)."""
    if not torch.cuda.is_initialized():
        return False
    with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
        torch.cuda.empty_cache()
    return True


class DeviceGuard:
    """Counts and classifies device failures; `on_oom` and `on_failure(error)` are called on
    the model thread (metrics, the health monitor)."""

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.oom_frames = 0
        self.cache_releases = 0
        self.failed_frames = 0
        self.on_oom: Callable[[], None] | None = None
        self.on_failure: Callable[[BaseException], None] | None = None

    def call(self, run: Callable[..., list], views: list[View], *args, **kwargs) -> list:
        oom = None
        try:
            return run(views, *args, **kwargs)
        except torch.cuda.OutOfMemoryError as e:
            oom = str(e).splitlines()[0] if str(e) else "out of memory"
        except Exception as e:
            if not is_device_error(e):
                raise
            self.failed_frames += 1
            if self.on_failure is not None:
                self.on_failure(e)
            detail = str(e).splitlines()[0]
            raise Unavailable(
                f"the device failed while running this frame ({detail}); this server reports "
                "NOT_SERVING until the device answers again: reconnect (a balancer picks another "
                "replica)"
            ) from None
        # Out of the except block: the failed frame's tensors (held by the traceback) are freed,
        # so emptying the cache now returns them too.
        self.oom_frames += 1
        if release_cached_memory(self.device):
            self.cache_releases += 1
        if self.on_oom is not None:
            self.on_oom()
        size = ", ".join(f"{v.width}x{v.height}" for v in views)
        log.warning("frame of %d view(s) (%s) refused: %s", len(views), size, oom)
        raise ResourceExhausted(
            f"the frame ({len(views)} view(s) of {size}) needs more {self.device.type} memory "
            f"than is free ({oom}); it was refused and the server goes on: send smaller "
            "frames or a lower render_scale"
        )


@dataclass
class GuardedPipeline(Pipeline):
    """The engine's Pipeline with device faults turned into statuses (see the module doc)."""

    guard: DeviceGuard | None = None

    def run(self, model, views: list[View], *args, **kwargs) -> list:
        """Pipeline.run, whatever its further arguments, inside the guard."""
        if self.guard is None:
            return super().run(model, views, *args, **kwargs)
        return self.guard.call(
            lambda v, *a, **kw: Pipeline.run(self, model, v, *a, **kw), views, *args, **kwargs
        )
