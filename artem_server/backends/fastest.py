"""The CPU default of `artem serve` (`--backend fastest`): time each available (backend,
precision) once on a small frame at start and make the fastest the server's default. Which one
wins depends on the CPU and the installed builds (ONNX Runtime ran the painting styles'
generator about 2x faster than torch eager on a 2-core x86 machine), so it is measured, not
assumed.

The probe is the built-in `nocturne` style (a painting style's shape: 16 channels, 3 residual
blocks), run from its shipped model.onnx on onnxruntime, so measuring costs a second, not an
export. What a frame costs depends on the shape, not the weights: without that entry a
random-weight net of the same shape is timed (and exported).

ONNX Runtime serves a style without an export only when its entry ships a current model.onnx;
for the others the pick also names the fastest variant that needs none (`ready`), which the
server runs them on rather than export each at its first session (seconds to a minute).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from ..models.generator import Generator, GeneratorConfig
from .base import BackendUnavailable

log = logging.getLogger(__name__)

CPU_CANDIDATES = (("torch-eager", "fp32"), ("onnxruntime", "fp32"), ("torch-optimized", "bf16"))
PROBE_STYLE = "nocturne"
PROBE_SIZE = 128
EXPORTING = ("onnxruntime",)  # backends that export a module without a shipped graph


def probe_module() -> torch.nn.Module:
    """The built-in probe style's module (its shipped graph attached), else a random one."""
    from ..kinds import kind_of
    from ..models.store import read_entry
    from ..registry import BUILTIN_DIR

    try:
        entry = read_entry(BUILTIN_DIR / PROBE_STYLE)
        return kind_of(entry.card).load(entry)
    except (OSError, ValueError) as e:
        log.info("fastest: probe style %s unavailable (%s); timing a random net", PROBE_STYLE, e)
    torch.manual_seed(0)
    return Generator(GeneratorConfig(width=16, res_blocks=3, antialias=True)).eval()


def time_variants(
    device: torch.device,
    size: int = PROBE_SIZE,
    repeats: int = 3,
    candidates=CPU_CANDIDATES,
    probe: torch.nn.Module | None = None,
) -> dict[tuple[str, str], float]:
    """Best-of-`repeats` ms per call of the probe on a (1, 3, size, size) frame, per available
    candidate (one that cannot be built here is left out). The candidates take turns in each
    round, so a burst of load from other processes falls on all of them alike."""
    from . import available_backends, create_runner

    here = available_backends(device)
    probe = probe if probe is not None else probe_module()
    runners = {}
    with torch.inference_mode():
        for backend, precision in candidates:
            if backend not in here:
                continue
            try:
                runner = create_runner(backend, probe, device, precision)
                x = runner.example((1, size, size))
                runner(x)  # first call: allocation, kernel selection
            except (BackendUnavailable, RuntimeError, ValueError) as e:
                log.info("fastest: %s %s cannot run here: %s", backend, precision, e)
                continue
            runners[(backend, precision)] = (runner, x)
        times = dict.fromkeys(runners, float("inf"))
        for _ in range(repeats):
            for key, (runner, x) in runners.items():
                start = time.perf_counter()
                runner(x)
                times[key] = min(times[key], (time.perf_counter() - start) * 1e3)
    return times


@dataclass(frozen=True)
class Pick:
    """The measured default, and the fastest variant that never exports (None: the same)."""

    best: tuple[str, str]
    ready: tuple[str, str] | None
    times: dict[tuple[str, str], float]


def fastest_choice(device: torch.device) -> Pick:
    """Time the candidates once; the pick is logged with every candidate's time."""
    start = time.perf_counter()
    times = time_variants(device)
    if not times:
        raise RuntimeError("fastest: no backend could run the probe")
    ranked = sorted(times, key=times.get)
    best = ranked[0]
    ready = (
        next((c for c in ranked if c[0] not in EXPORTING), None) if best[0] in EXPORTING else None
    )
    log.info(
        "fastest CPU variant: %s %s (probe ms per %dx%d frame: %s; measured in %.1f s)%s",
        *best,
        PROBE_SIZE,
        PROBE_SIZE,
        ", ".join(f"{b} {p} {times[(b, p)]:.1f}" for b, p in ranked),
        time.perf_counter() - start,
        f"; styles without a current model.onnx run on {ready[0]} {ready[1]} instead of "
        "exporting (`artem models export-onnx` writes one)"
        if ready
        else "",
    )
    return Pick(best, ready, times)
