"""`artem serve --backend fastest`: on a CPU, time each available (backend, precision) once on
a small frame at start and make the fastest the server's default. Which one wins depends on the
CPU and the installed builds (ONNX Runtime ran the painting styles' generator about 2x faster
than torch eager on a 2-core x86 machine), so it is measured, not assumed.

The probe is a generator of the shipped painting styles' shape (16 channels, 3 residual
blocks) with fixed random weights: what a frame costs depends on the shape, not the weights.
"""

from __future__ import annotations

import logging
import time

import torch

from ..models.generator import Generator, GeneratorConfig
from .base import BackendUnavailable

log = logging.getLogger(__name__)

CPU_CANDIDATES = (("torch-eager", "fp32"), ("onnxruntime", "fp32"), ("torch-optimized", "bf16"))


def time_variants(
    device: torch.device, size: int = 96, repeats: int = 3, candidates=CPU_CANDIDATES
) -> dict[tuple[str, str], float]:
    """Best-of-`repeats` ms per call of the probe on a (1, 3, size, size) frame, per available
    candidate (one that cannot be built here is left out)."""
    from . import available_backends, create_runner

    here = available_backends(device)
    torch.manual_seed(0)
    probe = Generator(GeneratorConfig(width=16, res_blocks=3)).eval()
    times: dict[tuple[str, str], float] = {}
    for backend, precision in candidates:
        if backend not in here:
            continue
        try:
            runner = create_runner(backend, probe, device, precision)
            x = runner.example((1, size, size))
            with torch.inference_mode():
                runner(x)  # first call: allocation, kernel selection
                best = float("inf")
                for _ in range(repeats):
                    start = time.perf_counter()
                    runner(x)
                    best = min(best, (time.perf_counter() - start) * 1e3)
        except (BackendUnavailable, RuntimeError, ValueError) as e:
            log.info("fastest: %s %s cannot run here: %s", backend, precision, e)
            continue
        times[(backend, precision)] = best
    return times


def fastest_choice(device: torch.device) -> tuple[str, str]:
    """The (backend, precision) with the least probe time; logged with every candidate's."""
    times = time_variants(device)
    if not times:
        raise RuntimeError("fastest: no backend could run the probe")
    choice = min(times, key=times.get)
    log.info(
        "fastest CPU variant: %s %s (probe ms per 96x96 frame: %s)",
        *choice,
        ", ".join(
            f"{b} {p} {ms:.1f}" for (b, p), ms in sorted(times.items(), key=lambda kv: kv[1])
        ),
    )
    return choice
