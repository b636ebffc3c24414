"""What the server checks and records around each Stylize stream, apart from its frames:
admission (health and max_streams), the idle timeout, the stream's id (call metadata and every
log line), and the metrics of what its client receives.

The servicer calls three things: `open` before anything else, `requests` around the request
iterator, `next_reply` for each reply; and `close` when the stream ends, however it ends.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator

import grpc
from artem_protocol import wire
from artem_protocol.rpc import pb

from . import logs
from .errors import ArtemError, DeadlineExceeded, ResourceExhausted, Unavailable, status_of
from .health import Readiness
from .limits import ServerLimits
from .metrics import Metrics

log = logging.getLogger(__name__)

REPLICA_KEY = "artem-replica"  # initial metadata: which replica serves this stream
STREAM_KEY = "artem-stream-id"  # initial metadata: the id this stream has in that replica's logs


class StreamGuard:
    """Per server: counts open streams and hands out stream ids."""

    def __init__(
        self,
        limits: ServerLimits = ServerLimits(),
        metrics: Metrics | None = None,
        readiness: Readiness | None = None,
        replica: str = "",
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self.readiness = readiness
        self.replica = replica
        self.open_count = 0
        self.per_connection: dict[
            str, int
        ] = {}  # open streams by the peer's address (host and port)
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(2)  # tells this process's ids from another replica's

    async def refuse(self, context: grpc.aio.ServicerContext, error: ArtemError) -> None:
        """End the call with `error`'s status (counted); raises, as context.abort does."""
        code, message = status_of(error)
        if self.metrics is not None:
            self.metrics.count_error(code)
        await context.abort(code, message)

    async def open(self, context: grpc.aio.ServicerContext) -> OpenStream:
        if self.readiness is not None and not self.readiness.serving:
            await self.refuse(
                context,
                Unavailable(
                    f"not serving: {self.readiness.reason()}; retry with backoff "
                    "(behind a balancer, another replica takes the stream)"
                ),
            )
        n = self.limits.max_streams
        if self.open_count >= n:
            await self.refuse(
                context,
                ResourceExhausted(
                    f"this server already has {self.open_count} Stylize streams open, its limit "
                    f"(max_streams = {n}); "
                    "retry with backoff or use another replica"
                ),
            )
        # Read now: asking a call that the client already tore down for its peer can crash
        # grpc's Cython layer (seen with grpcio 1.85 after a mid-message disconnect).
        peer = context.peer()
        per = self.limits.max_streams_per_connection
        if per and self.per_connection.get(peer, 0) >= per:
            await self.refuse(
                context,
                ResourceExhausted(
                    f"this connection already has {per} Stylize streams open, this server's limit "
                    f"per connection "
                    f"(max_streams_per_connection = {per}); end one first, or open another "
                    f"connection"
                ),
            )
        self.open_count += 1  # no await since the checks: admission cannot race
        self.per_connection[peer] = self.per_connection.get(peer, 0) + 1
        sid = f"{self._prefix}-{next(self._ids):06d}"
        logs.stream_id.set(sid)  # this task and the tasks it creates log under the stream's id
        stream = OpenStream(self, context, sid, peer)
        if self.metrics is not None:
            self.metrics.streams.inc()
            self.metrics.streams_opened.inc()
        try:
            await context.send_initial_metadata(((REPLICA_KEY, self.replica), (STREAM_KEY, sid)))
        except BaseException:
            stream.close()
            raise
        log.debug("stream opened by %s", stream.peer)
        return stream


class OpenStream:
    """One admitted stream: what it was sent and answered, and when it last showed life."""

    def __init__(
        self, guard: StreamGuard, context: grpc.aio.ServicerContext, sid: str, peer: str
    ) -> None:
        self.guard, self.context, self.id, self.peer = guard, context, sid, peer
        self.opened = self.last_activity = time.monotonic()
        self.frames_in = self.answered = self.frames_out = self.errors = self.dropped = 0
        self.closed = False

    async def requests(self, iterator: AsyncIterator[wire.Message]) -> AsyncIterator[wire.Message]:
        """The request iterator, noting each request's arrival (the idle clock) and frames."""
        async for message in iterator:
            self.last_activity = time.monotonic()
            if message.msg.WhichOneof("kind") == "frame":
                self.frames_in += 1
                if self.guard.metrics is not None:
                    self.guard.metrics.frames_received.inc()
            yield message

    @property
    def outstanding(self) -> int:
        """Frames read but neither answered nor reported dropped: the server owes the client."""
        return self.frames_in - self.answered

    async def next_reply(self, out: asyncio.Queue):
        """The next item of the session's queue, recorded; ends the call with DEADLINE_EXCEEDED
        when the client has sent nothing for stream_idle_timeout_s while owed nothing."""
        timeout = self.guard.limits.stream_idle_timeout_s
        while True:
            if not timeout:
                item = await out.get()
                break
            wait = max(self.last_activity + timeout - time.monotonic(), 0.01)
            try:
                item = await asyncio.wait_for(out.get(), wait)
                break
            except asyncio.TimeoutError:
                if self.outstanding > 0:
                    self.last_activity = time.monotonic()  # a slow frame is not an idle client
                elif time.monotonic() - self.last_activity >= timeout:
                    await self.guard.refuse(
                        self.context,
                        DeadlineExceeded(
                            f"the stream sent nothing for {timeout:g} s (stream_idle_timeout_s = "
                            f"{timeout:g}); "
                            "open a new stream when frames resume"
                        ),
                    )
        self._observe(item)
        return item

    def _observe(self, item) -> None:
        reply = item.msg if isinstance(item, wire.Message) else item
        if not isinstance(reply, pb.StylizeReply):
            return  # the session's end marker
        self.last_activity = time.monotonic()
        if self.guard.metrics is not None:
            self.guard.metrics.observe_reply(reply)
        if reply.HasField("error"):
            self.errors += 1
        if reply.WhichOneof("kind") == "frame":
            self.answered += 1 + reply.frame.dropped_frames
            self.dropped += reply.frame.dropped_frames
            self.frames_out += not reply.HasField("error")

    def close(self) -> None:
        """The stream is over: free its slot, log what it did."""
        if self.closed:
            return
        self.closed = True
        self.guard.open_count -= 1
        left = self.guard.per_connection.pop(self.peer) - 1
        if left:
            self.guard.per_connection[self.peer] = left
        if self.guard.metrics is not None:
            self.guard.metrics.streams.dec()
        log.info(
            "stream closed after %.1f s: %d frames in, %d answered with pixels, %d errors, %d "
            "dropped (peer %s)",
            time.monotonic() - self.opened,
            self.frames_in,
            self.frames_out,
            self.errors,
            self.dropped,
            self.peer,
        )
