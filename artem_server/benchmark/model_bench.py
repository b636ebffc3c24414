"""Model-only timing: one runner per variant, timed on a fixed batch made from photographs.

On CUDA each repeat is timed with CUDA events around the runner call (GPU time of the forward
pass, including a CUDA graph's input copy), synchronizing once at the end; on CPU with the
wall clock. Every row's output is compared with eager fp32's on the same input (PSNR).
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..backends import BackendUnavailable, available_backends, create_runner
from ..backends.base import Runner
from ..frames import PixelFormat
from ..pipeline import ModelTraits, pad_to_multiple, to_model_input
from .report import Row, median, p95, psnr
from .sizes import FrameSize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """A backend, a precision, and for torch-optimized a mode (eager, graph, compile, fused;
    empty: the runner's default for the model)."""

    backend: str
    precision: str
    mode: str = ""

    @classmethod
    def parse(cls, text: str) -> Variant:
        parts = text.split(":")
        if not 2 <= len(parts) <= 3:
            raise ValueError(
                f"variant {text!r}: expected BACKEND:PRECISION[:MODE], e.g. "
                f"torch-optimized:fp16:graph"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return ":".join(p for p in (self.backend, self.precision, self.mode) if p)

    def options(self) -> dict:
        return {"mode": self.mode} if self.mode else {}


BASELINE = Variant("torch-eager", "fp32")


def default_variants(device: torch.device) -> list[Variant]:
    """Every backend x precision worth a row on this device, the baseline first."""
    here = available_backends(device)
    if device.type == "cuda":
        wanted = [
            BASELINE,
            Variant("torch-eager", "fp16"),
            Variant("torch-optimized", "fp32", "graph"),
            Variant("torch-optimized", "fp16", "graph"),
            Variant("torch-optimized", "bf16", "graph"),
            Variant("torch-optimized", "fp16", "compile"),
            Variant("torch-optimized", "fp16", "fused"),
            Variant("torch-optimized", "bf16", "fused"),
            Variant("onnxruntime", "fp32"),
            Variant("onnxruntime", "fp16"),
        ]
    else:
        wanted = [
            BASELINE,
            Variant("torch-eager", "bf16"),
            Variant("torch-optimized", "bf16", "eager"),
            Variant("onnxruntime", "fp32"),
        ]
    return [v for v in wanted if v.backend in here]


def server_default_variant(device: torch.device) -> Variant:
    """What `artem serve` runs when nothing is named (the mode, if any, chosen per model): the
    end-to-end rows' second row."""
    from ..backends import default_choice

    return Variant(*default_choice(device))


def photo_views(size: FrameSize, fmt: PixelFormat = PixelFormat.RGBA8) -> list[np.ndarray]:
    """(H, W, 4) RGBA8 sRGB views of real photographs (scikit-image's), one per eye."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea()]
    views = []
    for i in range(size.views):
        rgb = np.asarray(
            Image.fromarray(photos[i % len(photos)]).resize(
                (size.width, size.height), Image.Resampling.BICUBIC
            )
        )
        px = np.empty((size.height, size.width, fmt.bpp), np.uint8)
        px[..., list(fmt.rgb_order)] = rgb
        if fmt.alpha_index is not None:
            px[..., fmt.alpha_index] = 255
        views.append(px)
    return views


def model_input(size: FrameSize, traits: ModelTraits, device: torch.device) -> torch.Tensor:
    """(N, 3, Hs, Ws) float32 model input of the photographs, padded as the pipeline pads."""
    src = torch.from_numpy(np.stack(photo_views(size))).to(device)
    x = to_model_input(src, PixelFormat.RGBA8, linear=False)
    return pad_to_multiple(x, traits.size_multiple, traits.minimum)


def time_calls(runner: Runner, x: torch.Tensor, warmup: int, repeats: int) -> list[float]:
    """Milliseconds per call of `runner(x)`, after `warmup` untimed calls."""
    with torch.inference_mode():
        for _ in range(warmup):
            runner(x)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
            events = [
                (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                for _ in range(repeats)
            ]
            for start, end in events:
                start.record()
                runner(x)
                end.record()
            torch.cuda.synchronize(x.device)
            return [start.elapsed_time(end) for start, end in events]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            runner(x)
            times.append((time.perf_counter() - t0) * 1e3)
        return times


def profile_calls(runner: Runner, x: torch.Tensor, top: int, calls: int = 3) -> str:
    """torch.profiler's table of the `top` operators and kernels with the most self time (device
    time on CUDA) over `calls` calls: where a variant's milliseconds go."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if x.is_cuda else [])
    with torch.inference_mode(), profile(activities=activities) as prof:
        for _ in range(calls):
            runner(x)
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
    key = "self_device_time_total" if x.is_cuda else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=top, max_name_column_width=60)


def bench_variant(
    model: torch.nn.Module,
    variant: Variant,
    size: FrameSize,
    style: str,
    device: torch.device,
    warmup: int,
    repeats: int,
    reference: torch.Tensor | None,
    profile_top: int = 0,
) -> tuple[Row, torch.Tensor | None]:
    """One row; returns it and the variant's float32 output on the photographs. With
    `profile_top`, also prints the profiler's table of the row's top operators."""
    row = Row("model", size.name, style, variant.backend, variant.precision, variant.mode)
    started = time.perf_counter()
    try:
        runner = create_runner(
            variant.backend, model, device, variant.precision, **variant.options()
        )
        traits = ModelTraits.of(runner)
        x = (
            model_input(size, traits, device)
            .to(traits.dtype)
            .contiguous(memory_format=traits.memory_format)
        )
        runner.prepare([(x.shape[0], x.shape[2], x.shape[3])])
    except (BackendUnavailable, ValueError, RuntimeError) as e:
        row.error = str(e).splitlines()[0][:120]
        log.warning("%s %s: %s", size.name, variant, e)
        return row, None
    row.prepare_s = time.perf_counter() - started
    with torch.inference_mode():
        output = runner(x).float().clone()
    times = time_calls(runner, x, warmup, repeats)
    row.median_ms, row.p95_ms, row.samples = median(times), p95(times), len(times)
    row.psnr_db = psnr(output, reference) if reference is not None else None
    if profile_top:
        print(
            f"profile: {size.name} {style} {variant} (3 "
            f"calls)\n{profile_calls(runner, x, profile_top)}",
            flush=True,
        )
    del runner, x
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row, output


def bench_model(
    model: torch.nn.Module,
    style: str,
    size: FrameSize,
    variants: list[Variant],
    device: torch.device,
    warmup: int,
    repeats: int,
    profile_top: int = 0,
) -> list[Row]:
    """Rows for every variant at one size; the baseline runs first and sets the reference."""
    order = [BASELINE] + [v for v in variants if v != BASELINE]
    rows, reference = [], None
    for v in order:
        row, output = bench_variant(
            model,
            v,
            size,
            style,
            device,
            warmup,
            repeats,
            reference,
            profile_top if v in variants else 0,
        )
        if v == BASELINE:
            reference = output
            row.psnr_db = None
        if v in variants or v == BASELINE:
            rows.append(row)
        log.info(
            "model %s %s: %s ms",
            size.name,
            v,
            f"{row.median_ms:.2f}" if not row.error else row.error,
        )
    return rows
