"""A load generator: N concurrent Stylize streams for a fixed time, each on its own channel and
thread, sending one synthetic frame as fast as its credits allow. Used by the load test and by
bench/soak.py; with `reconnect`, each stream survives restarts (artem_client.reconnect).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import numpy as np
from artem_protocol.rpc import pb

from .client import StylizeError, StylizerClient
from .connect import ClientSecurity
from .reconnect import Backoff, stream_with_reconnect


@dataclass
class StreamResult:
    sent: int = 0  # frames taken from the source and sent
    received: int = 0  # frames answered with pixels
    dropped: int = 0  # frames the server replaced unanswered (latest frame wins)
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)  # statuses that ended a stream

    @property
    def lost(self) -> int:
        """Sent, but neither answered nor reported dropped (in flight when a stream broke)."""
        return self.sent - self.received - self.dropped


@dataclass
class LoadResult:
    streams: list[StreamResult]
    wall_s: float

    def total(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.streams)

    @property
    def errors(self) -> list[str]:
        return [e for s in self.streams for e in s.errors]

    def summary(self) -> str:
        per = [s.received for s in self.streams]
        return (
            f"{len(self.streams)} streams, {self.wall_s:.1f} s: {self.total('sent')} frames sent, "
            f"{self.total('received')} served "
            f"({self.total('received') / max(self.wall_s, 1e-9):.1f}/s), "
            f"{self.total('dropped')} dropped, {self.total('lost')} lost, {len(self.errors)} "
            f"errors, "
            f"{self.total('reconnects')} reconnects; per stream served min {min(per, default=0)} "
            f"max {max(per, default=0)}"
        )


def _frames(image: np.ndarray, until: float, result: StreamResult) -> Iterator[list[np.ndarray]]:
    while time.monotonic() < until:
        result.sent += 1  # taken by the client: it is sent as soon as a credit frees
        yield [image]


def _one_stream(
    address: str,
    result: StreamResult,
    image: np.ndarray,
    until: float,
    style: str,
    max_in_flight: int,
    security: ClientSecurity | None,
    reconnect: bool,
) -> None:
    def seen(i: int, f: pb.StylizedFrame) -> None:
        result.received += 1
        result.dropped += f.dropped_frames

    frames = _frames(image, until, result)
    try:
        if reconnect:
            stats = stream_with_reconnect(
                address,
                frames,
                style,
                security=security,
                on_frame=seen,
                backoff=Backoff(initial_s=0.05, max_s=1.0),
                max_attempts=60,
                max_in_flight=max_in_flight,
            )
            result.reconnects = stats.reconnects
        else:
            with StylizerClient(address, security) as client:
                client.stream(frames, style, max_in_flight=max_in_flight, on_frame=seen)
    except (grpc.RpcError, StylizeError) as e:
        result.errors.append(
            f"{e.code().name if isinstance(e, grpc.RpcError) else e.code.name}: {e}"
        )


def run_load(
    address: str,
    streams: int = 8,
    duration_s: float = 5.0,
    style: str = "identity",
    size: tuple[int, int] = (64, 64),
    max_in_flight: int = 2,
    security: ClientSecurity | None = None,
    reconnect: bool = False,
    seed: int = 0,
) -> LoadResult:
    """Run `streams` streams of `size` (W, H) RGBA frames through `style` for `duration_s`."""
    rng = np.random.default_rng(seed)
    w, h = size
    results = [StreamResult() for _ in range(streams)]
    until = time.monotonic() + duration_s
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=_one_stream,
            name=f"artem-load-{i}",
            daemon=True,
            args=(
                address,
                r,
                rng.integers(0, 256, (h, w, 4), dtype=np.uint8),
                until,
                style,
                max_in_flight,
                security,
                reconnect,
            ),
        )
        for i, r in enumerate(results)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration_s + 120)
    return LoadResult(results, time.perf_counter() - start)
