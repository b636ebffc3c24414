"""The Stylizer gRPC servicer: an adapter between the wire and the pipeline.

It validates at the edge, turns protobuf messages into domain objects (frames.View), runs the
pipeline on a worker thread and turns the result back into messages. In the Stylize stream a
bad request is answered in its own reply (the stream goes on); see proto/artem/v1/stylizer.proto.

Per stream, one frame is in the model and at most one waits: a newer frame replaces the waiting
one (latest frame wins) and the next reply counts the drop. Streams take turns on the device
through one FIFO lock, so none starves another.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import AsyncIterator

import grpc
import torch

from . import __version__
from .errors import ArtemError, InvalidArgument, ResourceExhausted, status_of
from .frames import FrameLimits, PixelFormat, View, view_pixels
from .pipeline import Pipeline, StageTimes
from .registry import Registry, Style
from .rpc import pb, pb_grpc

log = logging.getLogger(__name__)

_LINEAR = pb.COLOR_SPACE_LINEAR
_COLOR_SPACES = (pb.COLOR_SPACE_UNSPECIFIED, pb.COLOR_SPACE_SRGB, pb.COLOR_SPACE_LINEAR)


@dataclass(frozen=True)
class SessionSettings:
    style: Style
    strength: float = 1.0

    def state(self) -> pb.SessionState:
        return pb.SessionState(style=self.style.id, strength=self.strength, kind=self.style.card.kind)


@dataclass
class PendingFrame:
    frame: pb.Frame
    views: list[View]
    settings: SessionSettings
    arrived: float  # time.perf_counter() when read off the stream


def error_status(exc: BaseException) -> pb.Status:
    code, message = status_of(exc)
    return pb.Status(code=code.value[0], message=message)


def parse_views(frame: pb.Frame, limits: FrameLimits) -> list[View]:
    """Validate a frame's views and view their pixels without copying."""
    n = len(frame.views)
    if not 1 <= n <= limits.max_views:
        raise InvalidArgument(f"frame.views has {n} views: expected 1 (mono) or 2 (left, right eye)")
    total = sum(len(v.data) for v in frame.views)
    if total > limits.max_frame_bytes:
        raise ResourceExhausted(f"frame of {total} bytes exceeds this server's limit of "
                                f"{limits.max_frame_bytes} bytes (max_frame_bytes)")
    views = []
    for i, v in enumerate(frame.views):
        field = f"frame.views[{i}]"
        if v.WhichOneof("pixels") is None:
            raise InvalidArgument(f"{field} has no pixels: expected `data` with the view's bytes")
        fmt = PixelFormat.from_wire(v.format, f"{field}.format")
        if v.color_space not in _COLOR_SPACES:
            raise InvalidArgument(f"{field}.color_space = {v.color_space}: expected 1 (SRGB) or 2 (LINEAR)")
        pixels = view_pixels(v.data, v.width, v.height, fmt, v.row_stride, field, limits)
        views.append(View(pixels, fmt, v.color_space == _LINEAR))
    return views


def parse_settings(config: pb.SessionConfig, registry: Registry) -> SessionSettings:
    strength = config.strength if config.HasField("strength") else 1.0
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise InvalidArgument(f"config.strength = {strength}: expected a number in [0, 1]")
    return SessionSettings(registry.get(config.style, "config.style"), float(strength))


def encode_view(pixels, src: View) -> pb.View:
    h, w, bpp = pixels.shape
    color = pb.COLOR_SPACE_LINEAR if src.linear else pb.COLOR_SPACE_SRGB
    return pb.View(width=w, height=h, format=src.format.wire, color_space=color,
                   row_stride=w * bpp, data=pixels.tobytes())


class Engine:
    """What every stream shares: the registry, the pipeline and the device's turn-taking."""

    def __init__(self, registry: Registry, device: torch.device, limits: FrameLimits) -> None:
        self.registry = registry
        self.device = device
        self.limits = limits
        self.pipeline = Pipeline(device)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artem-model")
        self._turn = asyncio.Lock()  # FIFO: waiting streams are served in arrival order

    async def stylize(self, pending: PendingFrame) -> pb.StylizedFrame:
        async with self._turn:
            started = time.perf_counter()
            times = StageTimes()
            s = pending.settings
            outputs = await asyncio.get_running_loop().run_in_executor(
                self.executor, self.pipeline.run, s.style.model, pending.views, s.strength, times)
        return pb.StylizedFrame(
            id=pending.frame.id, capture_time_us=pending.frame.capture_time_us, style=s.style.id,
            views=[encode_view(o, v) for o, v in zip(outputs, pending.views)],
            timings=pb.Timings(queue_ms=(started - pending.arrived) * 1e3, convert_ms=times.convert_s * 1e3,
                               model_ms=times.model_s * 1e3, total_ms=(time.perf_counter() - pending.arrived) * 1e3))

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class StreamSession:
    """One Stylize call: a reader task takes requests, a worker task runs frames, and the
    handler yields replies from `out` in the order they are ready."""

    END = object()

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings: SessionSettings | None = None
        self.pending: PendingFrame | None = None
        self.dropped = 0
        self.frame_ready = asyncio.Event()
        self.reading_done = False
        self.out: asyncio.Queue = asyncio.Queue()

    async def read(self, requests: AsyncIterator[pb.StylizeRequest]) -> None:
        try:
            async for req in requests:
                self.handle(req, time.perf_counter())
        finally:
            self.reading_done = True
            self.frame_ready.set()

    def handle(self, req: pb.StylizeRequest, arrived: float) -> None:
        kind = req.WhichOneof("kind")
        if kind == "config":
            try:
                self.settings = parse_settings(req.config, self.engine.registry)
                self.out.put_nowait(pb.StylizeReply(session=self.settings.state()))
            except ArtemError as e:
                state = self.settings.state() if self.settings else pb.SessionState()
                self.out.put_nowait(pb.StylizeReply(session=state, error=error_status(e)))
            return
        if kind != "frame":
            self.out.put_nowait(pb.StylizeReply(error=pb.Status(
                code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                message="request has neither `config` nor `frame` set")))
            return
        frame = req.frame
        try:
            if self.settings is None:
                raise InvalidArgument(f"frame {frame.id} arrived before any config: the first request "
                                      "of a Stylize stream must set `config` (style, strength)")
            views = parse_views(frame, self.engine.limits)
        except ArtemError as e:
            self.out.put_nowait(pb.StylizeReply(frame=pb.StylizedFrame(
                id=frame.id, capture_time_us=frame.capture_time_us), error=error_status(e)))
            return
        if self.pending is not None:
            self.dropped += 1  # latest frame wins: the waiting one is replaced unanswered
        self.pending = PendingFrame(frame, views, self.settings, arrived)
        self.frame_ready.set()

    async def work(self) -> None:
        try:
            while True:
                if self.pending is None:
                    if self.reading_done:
                        return
                    self.frame_ready.clear()  # no await between the check and the wait: no lost wake-up
                    await self.frame_ready.wait()
                    continue
                pending, self.pending = self.pending, None
                try:
                    result = await self.engine.stylize(pending)
                    result.dropped_frames, self.dropped = self.dropped, 0
                    self.out.put_nowait(pb.StylizeReply(frame=result))
                except Exception as e:
                    if not isinstance(e, ArtemError):
                        log.exception("frame %d failed", pending.frame.id)
                    self.out.put_nowait(pb.StylizeReply(frame=pb.StylizedFrame(
                        id=pending.frame.id, capture_time_us=pending.frame.capture_time_us),
                        error=error_status(e)))
        finally:
            self.out.put_nowait(self.END)


class StylizerService(pb_grpc.StylizerServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.shutting_down = asyncio.Event()
        self._readers: set[asyncio.Task] = set()

    def begin_shutdown(self) -> None:
        """Stop taking frames: each stream answers what it holds, then ends with UNAVAILABLE."""
        self.shutting_down.set()
        for reader in list(self._readers):
            reader.cancel()

    async def Stylize(self, request_iterator, context: grpc.aio.ServicerContext):
        session = StreamSession(self.engine)
        reader = asyncio.create_task(session.read(request_iterator))
        self._readers.add(reader)
        worker = asyncio.create_task(session.work())
        try:
            while (reply := await session.out.get()) is not StreamSession.END:
                yield reply
        finally:
            self._readers.discard(reader)
            reader.cancel()
            worker.cancel()
        if self.shutting_down.is_set():
            await context.abort(grpc.StatusCode.UNAVAILABLE, "server is shutting down; reconnect")

    async def ListStyles(self, request: pb.ListStylesRequest, context) -> pb.ListStylesReply:
        styles = []
        for s in self.engine.registry.styles():
            c = s.card
            meta = {"source": c.source, "license": c.license, "created": c.created, "origin": s.origin,
                    "architecture": str(c.architecture) if c.architecture else "", "notes": c.notes}
            styles.append(pb.StyleInfo(id=s.id, kind=c.kind, display_name=c.display_name,
                                       thumbnail_png=s.thumbnail_png, metadata={k: v for k, v in meta.items() if v}))
        return pb.ListStylesReply(styles=styles)

    async def GetServerInfo(self, request: pb.GetServerInfoRequest, context) -> pb.ServerInfo:
        dev = self.engine.device
        name = f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else str(dev)
        lim = self.engine.limits
        return pb.ServerInfo(version=__version__, device=name, backends=["torch-eager"],
                             pixel_formats=[f.wire for f in PixelFormat],
                             max_frame_bytes=lim.max_frame_bytes, max_views=lim.max_views,
                             max_dimension=lim.max_dimension)
