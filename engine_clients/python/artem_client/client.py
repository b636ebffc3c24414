"""A streaming Stylize client with flow control, and the statistics a user asks for.

The request stream is a generator that grpc drains on its own thread; it waits for a credit
before each frame. A reply returns one credit per frame it accounts for (itself plus the frames
the server dropped), so `max_in_flight` bounds what is outstanding even when frames are dropped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import grpc
import numpy as np

from artem_server.rpc import pb, pb_grpc

from .frames import encode_view, from_rgb


class StylizeError(RuntimeError):
    """The server refused a request; `code` is the grpc.StatusCode it gave."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def status_code(number: int) -> grpc.StatusCode:
    return next((c for c in grpc.StatusCode if c.value[0] == number), grpc.StatusCode.UNKNOWN)


@dataclass
class StreamStats:
    sent: int = 0
    received: int = 0
    dropped: int = 0
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    server_model_ms: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.received / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, p: float, values: list[float] | None = None) -> float:
        values = self.latencies_ms if values is None else values
        return float(np.percentile(values, p)) if values else float("nan")

    def summary(self) -> str:
        return (f"{self.received} frames in {self.wall_s:.2f} s: {self.fps:.2f} fps; latency ms "
                f"p50 {self.percentile(50):.1f}, p95 {self.percentile(95):.1f}, p99 {self.percentile(99):.1f}; "
                f"server model ms p50 {self.percentile(50, self.server_model_ms):.1f}; "
                f"dropped {self.dropped}")


class StylizerClient:
    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
        self.stub = pb_grpc.StylizerStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "StylizerClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        grpc.channel_ready_future(self.channel).result(timeout=timeout)

    def list_styles(self) -> list[pb.StyleInfo]:
        return list(self.stub.ListStyles(pb.ListStylesRequest()).styles)

    def server_info(self) -> pb.ServerInfo:
        return self.stub.GetServerInfo(pb.GetServerInfoRequest())

    def stream(self, frames: Iterable[list[np.ndarray]], style: str, *, strength: float | None = None,
               fmt: int = pb.PIXEL_FORMAT_RGBA8, linear: bool = False, max_in_flight: int = 1,
               on_frame: Callable[[int, pb.StylizedFrame], None] | None = None) -> StreamStats:
        """Stream RGB frames through `style`; `on_frame(index, reply)` sees each stylized frame.
        Raises StylizeError on the first refused request."""
        stats = StreamStats()
        credits = threading.Semaphore(max_in_flight)
        sent_at: dict[int, float] = {}
        stop = threading.Event()

        def requests():
            config = pb.SessionConfig(style=style)
            if strength is not None:
                config.strength = strength
            yield pb.StylizeRequest(config=config)
            for i, views in enumerate(frames):
                while not credits.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                now = time.perf_counter()
                sent_at[i] = now
                stats.sent += 1
                yield pb.StylizeRequest(frame=pb.Frame(
                    id=i, capture_time_us=int(now * 1e6),
                    views=[encode_view(from_rgb(v, fmt), fmt, linear) for v in views]))

        start = time.perf_counter()
        call = self.stub.Stylize(requests())
        try:
            for reply in call:
                if reply.HasField("error"):
                    raise StylizeError(status_code(reply.error.code), reply.error.message)
                if reply.WhichOneof("kind") != "frame":
                    continue
                f = reply.frame
                stats.received += 1
                stats.dropped += f.dropped_frames
                stats.latencies_ms.append((time.perf_counter() - sent_at.pop(f.id)) * 1e3)
                stats.server_model_ms.append(f.timings.model_ms)
                if on_frame is not None:
                    on_frame(f.id, f)
                for _ in range(1 + f.dropped_frames):
                    credits.release()
        finally:
            stop.set()
            if not call.done():
                call.cancel()
        stats.wall_s = time.perf_counter() - start
        return stats
