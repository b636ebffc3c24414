"""A Stylize stream that survives the server going away: a restart, a replica drained behind a
balancer, a stream limit reached. When the call ends with a status worth retrying, it waits
(exponential backoff with jitter), opens a new channel and a new stream, sends the session's
config again and resumes with the source's next frame. Frames in flight when the stream broke
are lost (a live source does not rewind); the stats count them.

A new channel per attempt: gRPC's own reconnect backoff (up to two minutes) never stretches ours.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import grpc
import numpy as np
from artem_protocol.rpc import pb

from .client import StylizeError, StylizerClient
from .connect import ClientSecurity

log = logging.getLogger(__name__)

# The server is down, draining, not serving, full, or found the stream idle: another try may work.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt n (0-based): min(max_s, initial_s * multiplier**n), +-jitter."""

    initial_s: float = 0.1
    max_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random = random.Random()) -> float:
        base = min(self.max_s, self.initial_s * self.multiplier**attempt)
        return max(0.0, base * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass
class ResumeStats:
    """What a resilient stream did, over all its connections."""

    pulled: int = 0  # frames taken from the source
    received: int = 0  # frames answered with pixels
    dropped: int = 0  # frames the server replaced unanswered (latest frame wins)
    reconnects: int = 0
    failures: list[str] = field(default_factory=list)  # the status of each broken stream

    @property
    def lost(self) -> int:
        """Frames taken from the source but never answered: in flight when a stream broke."""
        return self.pulled - self.received - self.dropped


class _Counted:
    """The source, counted; locked, since a broken stream's request thread may still be pulling
    when the next stream starts."""

    def __init__(self, frames: Iterable) -> None:
        self._it, self.n, self.exhausted = iter(frames), 0, False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        with self._lock:
            try:
                item = next(self._it)
            except StopIteration:
                self.exhausted = True
                raise
            self.n += 1
            return item


def _retryable(e: Exception) -> grpc.StatusCode | None:
    code = (
        e.code()
        if isinstance(e, grpc.RpcError)
        else e.code
        if isinstance(e, StylizeError)
        else None
    )
    if isinstance(e, StylizeError) and code != grpc.StatusCode.UNAVAILABLE:
        return None  # a refused frame or config: sending it again would be refused again
    return code if code in RETRYABLE else None


def stream_with_reconnect(
    address: str,
    frames: Iterable[list[np.ndarray]],
    style: str,
    *,
    security: ClientSecurity | None = None,
    backoff: Backoff = Backoff(),
    max_attempts: int = 8,
    on_frame: Callable[[int, pb.StylizedFrame], None] | None = None,
    **stream_kwargs,
) -> ResumeStats:
    """Stream `frames` through `style` at `address`, reconnecting as the module says; gives up
    after `max_attempts` failed attempts in a row (raising the last error). Other keyword
    arguments go to StylizerClient.stream."""
    source, stats, failed = _Counted(frames), ResumeStats(), 0
    while True:
        got_before = stats.received + stats.dropped

        def counted(i: int, f: pb.StylizedFrame) -> None:
            stats.received += 1
            stats.dropped += f.dropped_frames
            if on_frame is not None:
                on_frame(i, f)

        try:
            with StylizerClient(address, security) as client:
                client.stream(source, style, on_frame=counted, **stream_kwargs)
            stats.pulled = source.n
            return stats
        except (grpc.RpcError, StylizeError) as e:
            stats.pulled = source.n
            code = _retryable(e)
            if code is None:
                raise
            if stats.received + stats.dropped > got_before:
                failed = 0  # this connection made progress: start the backoff over
            failed += 1
            detail = e.details() if isinstance(e, grpc.RpcError) else e.message
            stats.failures.append(f"{code.name}: {detail}")
            if failed >= max_attempts or source.exhausted:
                if source.exhausted:
                    return stats
                raise
            delay = backoff.delay(failed - 1)
            log.info("stream ended with %s (%s); reconnecting in %.2f s", code.name, detail, delay)
            time.sleep(delay)
            stats.reconnects += 1
