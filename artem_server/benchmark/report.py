"""Benchmark rows, their statistics, the printed tables and the JSON file."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95)) if values else float("nan")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in 0..255 (clamped first, as the pipeline's output is)."""
    mse = ((a.float().clamp(0, 255) - b.float().clamp(0, 255)) ** 2).mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


@dataclass
class Row:
    """One measured configuration. `ratio` = the eager fp32 baseline's median over this row's
    (same kind, size and style, same run): above 1 is faster than the baseline."""

    kind: str  # "model" or "e2e"
    size: str
    style: str
    backend: str
    precision: str
    mode: str = ""
    median_ms: float = float("nan")
    p95_ms: float = float("nan")
    ratio: float = float("nan")
    samples: int = 0
    psnr_db: float | None = None  # model rows: output vs eager fp32's, real photographs
    prepare_s: float | None = None  # model rows: build + compile/capture/tune
    server_model_ms: float | None = None  # e2e rows: medians of the server's own timings
    server_overhead_ms: float | None = None  # e2e: server total minus model, per frame
    fps: float | None = None
    transport: str = ""
    error: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.backend, self.precision, self.mode) if p)


def fill_ratios(rows: list[Row]) -> None:
    """Set each row's ratio against the eager fp32 row of its kind, size, style and transport."""
    base = {
        (r.kind, r.size, r.style, r.transport): r.median_ms
        for r in rows
        if r.backend == "torch-eager" and r.precision == "fp32" and not r.error
    }
    for r in rows:
        b = base.get((r.kind, r.size, r.style, r.transport))
        r.ratio = b / r.median_ms if b and not r.error and r.median_ms > 0 else float("nan")


def _fmt(v: float | None, spec: str = ".2f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec)


def table(rows: list[Row]) -> str:
    """Markdown tables: model-only rows, then end-to-end rows."""
    out = []
    model = [r for r in rows if r.kind == "model"]
    if model:
        out += [
            "model only (GPU time with CUDA events on CUDA, wall time on CPU)",
            "",
            "| size | style | backend | median ms | p95 ms | x eager fp32 | PSNR dB vs fp32 | "
            "prepare s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in model:
            if r.error:
                out.append(f"| {r.size} | {r.style} | {r.label} | skipped: {r.error} | | | | |")
                continue
            out.append(
                f"| {r.size} | {r.style} | {r.label} | {_fmt(r.median_ms)} | {_fmt(r.p95_ms)} | "
                f"{_fmt(r.ratio)} | {_fmt(r.psnr_db, '.1f')} | {_fmt(r.prepare_s, '.1f')} |"
            )
    e2e = [r for r in rows if r.kind == "e2e"]
    if e2e:
        out += [
            "",
            "end to end (server on loopback, one frame in flight; latency at the client)",
            "",
            "| size | style | backend | transport | latency median ms | p95 ms | fps | x eager "
            "fp32 | "
            "server model ms | server overhead ms |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in e2e:
            if r.error:
                out.append(
                    f"| {r.size} | {r.style} | {r.label} | {r.transport} | skipped: {r.error} | | "
                    f"| | | |"
                )
                continue
            out.append(
                f"| {r.size} | {r.style} | {r.label} | {r.transport} | {_fmt(r.median_ms)} | "
                f"{_fmt(r.p95_ms)} | {_fmt(r.fps, '.1f')} | {_fmt(r.ratio)} | "
                f"{_fmt(r.server_model_ms)} | {_fmt(r.server_overhead_ms)} |"
            )
    return "\n".join(out)


def environment(device: torch.device) -> dict:
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "machine": platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cuda"] = torch.version.cuda
    return env


def write_json(path: Path, rows: list[Row], env: dict, settings: dict) -> None:
    def clean(d: dict) -> dict:  # JSON has no NaN or inf
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()
        }

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(
        json.dumps(
            {"environment": env, "settings": settings, "rows": [clean(asdict(r)) for r in rows]},
            indent=2,
        )
    )
