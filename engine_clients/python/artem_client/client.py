"""A streaming Stylize client with flow control, and the statistics a user asks for.

The request stream is a generator that grpc drains on its own thread; it waits for a credit
before each frame. A reply returns one credit per frame it accounts for (itself plus the frames
the server dropped), so `max_in_flight` bounds what is outstanding even when frames are dropped.
Pixels travel by the chosen transport (inline, shm, jpeg: artem_client.transports), coded by
artem_protocol.wire so that Python copies them once at most on the way out.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import grpc
import numpy as np
from artem_protocol import wire
from artem_protocol.rpc import pb, pb_grpc

from . import transports
from .connect import ClientSecurity, open_channel
from .frames import BYTES_PER_PIXEL, from_rgb


class StylizeError(RuntimeError):
    """The server refused a request; `code` is the grpc.StatusCode it gave."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


# The standard grpc.health.v1 Check, called without grpcio-health-checking's generated code (a
# dependency for two tiny messages): HealthCheckRequest with its one field, `service`, empty is
# zero bytes; HealthCheckResponse holds `status` (field 1, a varint), SERVING = 1.
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_SERVING = 1


def _health_status(reply: bytes) -> int:
    """HealthCheckResponse.status (0, UNKNOWN, when unset)."""
    status, pos = 0, 0
    while pos < len(reply):
        key, pos = wire.read_varint(reply, pos)
        if key != 1 << 3:  # field 1, wire type 0; the message has no other field
            break
        status, pos = wire.read_varint(reply, pos)
    return status


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
    server_queue_ms: list[float] = field(default_factory=list)
    server_transfer_ms: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.received / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, p: float, values: list[float] | None = None) -> float:
        values = self.latencies_ms if values is None else values
        return float(np.percentile(values, p)) if values else float("nan")

    def summary(self) -> str:
        return (
            f"{self.received} frames in {self.wall_s:.2f} s: {self.fps:.2f} fps; latency ms "
            f"p50 {self.percentile(50):.1f}, p95 {self.percentile(95):.1f}, p99 "
            f"{self.percentile(99):.1f}; "
            f"server ms p50: model {self.percentile(50, self.server_model_ms):.1f}, queue "
            f"{self.percentile(50, self.server_queue_ms):.1f}, transfer "
            f"{self.percentile(50, self.server_transfer_ms):.1f}; "
            f"dropped {self.dropped}"
        )


class StylizerClient:
    def __init__(self, address: str, security: ClientSecurity | None = None) -> None:
        """`security`: TLS, mutual TLS and the bearer token (None: plaintext, no token)."""
        self.address = address
        # Its own connection (gRPC would share one among all channels to an address): a server
        # bounds the streams one connection may hold (max_streams_per_connection).
        self.channel = open_channel(
            address,
            security,
            options=[
                ("grpc.max_receive_message_length", -1),
                ("grpc.max_send_message_length", -1),
                ("grpc.use_local_subchannel_pool", 1),
            ],
        )
        self.stub = pb_grpc.StylizerStub(self.channel)
        # Stylize with pixels beside the messages (artem_protocol.wire), not in protobuf
        self._stylize = self.channel.stream_stream(
            "/artem.v1.Stylizer/Stylize",
            request_serializer=wire.encode_request,
            response_deserializer=wire.decode_reply,
        )

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> StylizerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server's health says SERVING: its port opens while styles still load,
        and a stream opened then would not find them. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        check = self.channel.unary_unary(_HEALTH_CHECK)  # bytes in, bytes out
        while True:
            left = deadline - time.monotonic()
            try:
                reply = check(b"", timeout=max(left, 0.1), wait_for_ready=True)
                if _health_status(reply) == _SERVING:
                    return
            except grpc.RpcError as e:
                if e.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.address} did not report SERVING within {timeout:.0f} s")
            time.sleep(0.1)

    def list_styles(self) -> list[pb.StyleInfo]:
        """Every style, page after page (the server pages its replies)."""
        styles: list[pb.StyleInfo] = []
        token = ""
        while True:
            reply = self.stub.ListStyles(pb.ListStylesRequest(page_token=token))
            styles.extend(reply.styles)
            if not reply.next_page_token or not reply.styles:
                return styles
            token = reply.next_page_token

    def server_info(self) -> pb.ServerInfo:
        return self.stub.GetServerInfo(pb.GetServerInfoRequest())

    def add_style(
        self,
        name: str,
        model: str,
        image: bytes,
        *,
        size: int | None = None,
        display_name: str = "",
        replace: bool = False,
        timeout: float = 300.0,
    ) -> pb.AddStyleReply:
        """Make PNG/JPEG `image` an adain style of `model` on the server; returns its id and
        listing. Raises grpc.RpcError (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS) when refused."""
        request = pb.AddStyleRequest(
            name=name, model=model, image=image, display_name=display_name, replace=replace
        )
        if size is not None:
            request.size = size
        return self.stub.AddStyle(request, timeout=timeout)

    def stream(self, frames: Iterable[list[np.ndarray]], style: str, **options) -> StreamStats:
        """Stream frames through `style`: each a list of views, (H, W, 3) RGB or (H, W, bpp)
        already in `fmt`, copied into its request (one copy). Options, all keywords:
        `strength`; `fmt` and `linear`, the pixel format and colour space; `max_in_flight`;
        `transport`: inline, shm (same host) or jpeg, at `jpeg_quality`; `mix` (adain styles of
        one model: {style: weight}) replaces `style`; `preserve_color` keeps the frame's colours
        (adain). `on_frame(index, reply)` sees each stylized frame's message and
        `on_images(index, images)` its pixels, (H, W, bpp) in `fmt` (for shm: views of the reply
        slot, valid during the call). Raises StylizeError on the first refused request."""
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            return StreamStats()
        frames = itertools.chain([first], frames)
        return self._stream(
            lambda index, targets: next(frames, None),
            [v.shape[:2] for v in first],
            style,
            **options,
        )

    def stream_into(
        self,
        render: Callable[[int, list[np.ndarray]], bool],
        views: list[tuple[int, int]],
        style: str,
        **options,
    ) -> StreamStats:
        """Stream frames that `render(index, targets)` draws straight into their requests, so the
        client copies nothing: `targets` are (H, W, bpp) arrays in `fmt`, one per view of `views`
        ((height, width) each): the request's own bytes (inline), its shared-memory slot (shm), or
        arrays the JPEG encoder reads. They may be written until `render` returns, and hold what
        was last drawn into them (a renderer may redraw only what changed). `render` returns False
        to end the stream. `options` are `stream`'s."""

        def draw(index: int, targets: Callable[[], list[np.ndarray]]) -> list[np.ndarray] | None:
            arrays = targets()
            return arrays if render(index, arrays) else None

        return self._stream(draw, views, style, **options)

    def _stream(
        self,
        produce: Callable[[int, Callable[[], list[np.ndarray]]], list[np.ndarray] | None],
        views: list[tuple[int, int]],
        style: str,
        *,
        strength: float | None = None,
        fmt: int = pb.PIXEL_FORMAT_RGBA8,
        linear: bool = False,
        max_in_flight: int = 1,
        on_frame: Callable[[int, pb.StylizedFrame], None] | None = None,
        transport: str = "inline",
        jpeg_quality: int | None = None,
        on_images: Callable[[int, list[np.ndarray]], None] | None = None,
        mix: dict[str, float] | None = None,
        preserve_color: bool = False,
    ) -> StreamStats:
        """The frames that `produce(index, targets)` gives (None: no more; `targets()` gives the
        transport's arrays to draw frame `index` into), of these views' (height, width), through
        `style`; the options are `stream`'s."""
        bpp = BYTES_PER_PIXEL[fmt]
        carrier = transports.make(
            transport, [(h, w, bpp) for h, w in views], max_in_flight, jpeg_quality
        )
        stats = StreamStats()
        credits = threading.Semaphore(max_in_flight)
        sent_at: dict[int, float] = {}
        stop = threading.Event()

        def requests():
            config = pb.SessionConfig(style="" if mix else style, preserve_color=preserve_color)
            config.mix.extend(pb.StyleWeight(style=k, weight=w) for k, w in (mix or {}).items())
            if strength is not None:
                config.strength = strength
            carrier.configure(config)
            yield pb.StylizeRequest(config=config)
            for i in itertools.count():
                # the credit first, then the frame: a live source gives its newest frame, and a
                # stream that breaks has taken only the frames it sent
                while not credits.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if (
                    stop.is_set()
                    or (images := produce(i, partial(carrier.targets, i, fmt, linear))) is None
                ):
                    return
                now = time.perf_counter()
                sent_at[i] = now
                stats.sent += 1
                images = [v if v.shape[2] == bpp else from_rgb(v, fmt) for v in images]
                message = carrier.request(i, images, fmt, linear)
                message.msg.frame.capture_time_us = int(now * 1e6)
                yield message

        start = time.perf_counter()
        call = self._stylize(requests())
        try:
            for message in call:
                reply = message.msg
                if reply.HasField("error"):
                    raise StylizeError(status_code(reply.error.code), reply.error.message)
                if reply.WhichOneof("kind") != "frame":
                    continue
                f = reply.frame
                stats.received += 1
                stats.dropped += f.dropped_frames
                if on_images is not None:
                    on_images(f.id, carrier.images(message))
                stats.latencies_ms.append((time.perf_counter() - sent_at.pop(f.id)) * 1e3)
                stats.server_model_ms.append(f.timings.model_ms)
                stats.server_queue_ms.append(f.timings.queue_ms)
                stats.server_transfer_ms.append(f.timings.transfer_ms)
                if on_frame is not None:
                    on_frame(f.id, f)
                carrier.done(f.id)
                for _ in range(1 + f.dropped_frames):
                    credits.release()
        finally:
            stop.set()
            if not call.done():
                call.cancel()
            carrier.close()
        stats.wall_s = time.perf_counter() - start
        return stats
