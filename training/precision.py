"""Mixed-precision training: `trainer.precision` = fp32 | bf16 | fp16.

bf16 runs the generator and the loss network under autocast on the CPU or CUDA (same exponent
range as fp32: no loss scaling needed). fp16 is CUDA only and scales the loss so small gradients
do not underflow. The weights and Adam's state stay fp32 either way.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context the forward pass and the loss run in."""
    dtype = PRECISIONS[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler that is a pass-through unless the run is fp16 on CUDA."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16" and device.type == "cuda")
