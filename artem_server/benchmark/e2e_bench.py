"""End-to-end timing: a real server on loopback, the reference client streaming photographs,
one frame in flight (latency, not throughput). One server per variant, configured with that
backend and precision as its default and the frame size as its warm size, so compilation
happens at style load, before the timed frames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..frames import FrameLimits
from ..loopback import LoopbackServer
from ..runs import RunOptions
from ..server import ServerConfig
from .model_bench import Variant, photo_views
from .report import Row, median, p95
from .sizes import FrameSize

log = logging.getLogger(__name__)


def supported_transports() -> list[str]:
    """Transports the end-to-end bench can use; the last is its default."""
    return ["inline", "shm"]


def bench_e2e(
    models_dir: Path,
    styles: list[str],
    size: FrameSize,
    variants: list[Variant],
    device: str,
    frames: int,
    warmup: int,
    transports: list[str],
) -> list[Row]:
    from artem_client import StylizerClient

    views = photo_views(size)
    frame_bytes = sum(v.nbytes for v in views)
    limits = FrameLimits(
        max_frame_bytes=max(frame_bytes, FrameLimits().max_frame_bytes),
        max_dimension=max(8192, size.width, size.height),
    )
    rows = []
    for variant in variants:
        run = RunOptions(
            backend=variant.backend,
            precision=variant.precision,
            optimize_mode=variant.mode or None,
            warm_sizes=[(size.views, size.height, size.width)],
        )
        config = ServerConfig(
            host="127.0.0.1",
            port=0,
            models_dir=models_dir,
            device=device,
            limits=limits,
            watch_interval_s=3600,
            run=run,
        )
        try:
            server = LoopbackServer(config)
        except (ValueError, RuntimeError, SystemExit) as e:
            for style in styles:
                rows += [
                    Row(
                        "e2e",
                        size.name,
                        style,
                        variant.backend,
                        variant.precision,
                        variant.mode,
                        transport=t,
                        error=str(e).splitlines()[0][:120],
                    )
                    for t in transports
                ]
            continue
        with server, StylizerClient(server.address) as client:
            client.wait_ready(60)
            for style in styles:
                if style == "identity" and variant != variants[0]:
                    continue  # identity runs no model: once is enough
                for transport in transports:
                    rows.append(
                        _stream(client, style, size, variant, views, frames, warmup, transport)
                    )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return rows


def _stream(
    client,
    style: str,
    size: FrameSize,
    variant: Variant,
    views: list[np.ndarray],
    frames: int,
    warmup: int,
    transport: str,
) -> Row:
    from artem_client import StylizeError

    row = Row(
        "e2e",
        size.name,
        style,
        variant.backend,
        variant.precision,
        variant.mode,
        transport=transport,
    )
    timings: list = []
    kwargs = {"transport": transport} if transport != "inline" else {}
    try:
        stats = client.stream(
            ([v for v in views] for _ in range(warmup + frames)),
            style,
            max_in_flight=1,
            on_frame=lambda i, f: timings.append(f.timings),
            **kwargs,
        )
    except StylizeError as e:
        row.error = str(e).splitlines()[0][:120]
        return row
    latencies = stats.latencies_ms[warmup:]
    kept = timings[warmup:]
    row.median_ms, row.p95_ms, row.samples = median(latencies), p95(latencies), len(latencies)
    row.fps = 1e3 / row.median_ms if latencies else None
    row.server_model_ms = median([t.model_ms for t in kept])
    row.server_overhead_ms = median([t.total_ms - t.model_ms for t in kept])
    row.extra = {
        "server_convert_ms": median([t.convert_ms for t in kept]),
        "server_total_ms": median([t.total_ms for t in kept]),
        "server_queue_ms": median([t.queue_ms for t in kept]),
    }
    return row
