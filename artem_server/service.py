"""The Stylizer gRPC servicer: an adapter between the wire and the frame path.

It validates at the edge, turns protobuf messages into domain objects (a frame's views in their
carriers, transport.carriers), runs each frame on the model thread (frame_step: the pipeline
between reading and writing the pixels) and turns the result back into messages. In the
Stylize stream a bad request is answered in its own reply (the stream goes on); see
proto/artem/v1/stylizer.proto.

Per stream, one frame is in the model and at most one waits: a newer frame replaces the waiting
one (latest frame wins) and the next reply counts the drop. Replies wait on the client's flow
control, and a frame runs only while fewer than two replies are on their way, so a client that
reads slowly (or never) costs one waiting frame and two replies, however fast it sends. Streams
take turns on the device through one FIFO lock, so none starves another.

Pixels travel inline, in a shared-memory slot or as JPEG (artem_server/transport); Stylize's
messages are coded by artem_protocol.wire so that inline pixels are never copied by protobuf.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial

import grpc
import torch
from artem_protocol import wire
from artem_protocol.rpc import pb, pb_grpc

from . import __version__, field_limits, logs
from .device_guard import DeviceGuard, GuardedPipeline
from .errors import ArtemError, InvalidArgument, PermissionDenied, Unavailable, status_of
from .frame_step import run_frame
from .frames import FrameLimits, PixelFormat
from .pipeline import StageTimes
from .registry import Registry, Style
from .runs import Build, RunChoice, RunOptions, Runs
from .stream_guard import StreamGuard
from .style_choice import ChoiceCache, StyleChoice, choose
from .styles import AddCancel, StyleImageLimits, add_style
from .transport.carriers import FramePixels
from .transport.handlers import Undecodable
from .transport.jpeg import DEFAULT_QUALITY, JpegCodec
from .transport.shm import Region, RegionTable, is_local_peer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionSettings:
    style: Style
    strength: float = 1.0
    jpeg_quality: int = DEFAULT_QUALITY
    run: RunChoice | None = None  # backend, precision, render scale (None: the server's default)
    choice: StyleChoice | None = None  # the module to run, as the style's kind built it

    @property
    def model(self) -> torch.nn.Module:
        return self.choice.model if self.choice else self.style.model

    @property
    def pixel_strength(self) -> float:
        """What the pipeline blends in pixels (1 when the kind put strength inside the model)."""
        return self.choice.pixel_strength if self.choice else self.strength

    @property
    def label(self) -> str:
        return self.choice.label if self.choice else self.style.id

    def state(self) -> pb.SessionState:
        state = pb.SessionState(
            style=self.style.id if not (self.choice and self.choice.mix) else "",
            strength=self.strength,
            kind=self.style.card.kind,
            jpeg_quality=self.jpeg_quality,
        )
        if self.choice is not None:
            state.mix.extend(pb.StyleWeight(style=sid, weight=w) for sid, w in self.choice.mix)
            state.preserve_color = self.choice.preserve_color
        if self.run is not None:
            state.backend, state.precision, state.render_scale = (
                self.run.backend,
                self.run.precision,
                self.run.render_scale,
            )
        return state


@dataclass
class PendingFrame:
    frame: pb.Frame
    pixels: FramePixels  # its views in their carriers: checked, not yet read
    settings: SessionSettings
    arrived: float  # time.perf_counter() when read off the stream


def error_status(exc: BaseException) -> pb.Status:
    code, message = status_of(exc)
    return pb.Status(code=code.value[0], message=message)


def parse_settings(
    config: pb.SessionConfig,
    registry: Registry,
    choices: ChoiceCache | None = None,
    fields: field_limits.FieldLimits = field_limits.FieldLimits(),
) -> SessionSettings:
    field_limits.check_config(config, fields)  # before any work that grows with the fields
    strength = config.strength if config.HasField("strength") else 1.0
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise InvalidArgument(f"config.strength = {strength}: expected a number in [0, 1]")
    quality = config.jpeg_quality if config.HasField("jpeg_quality") else DEFAULT_QUALITY
    if not 1 <= quality <= 100:
        raise InvalidArgument(f"config.jpeg_quality = {quality}: expected 1..100")
    choice = choose(
        registry,
        choices or ChoiceCache(),
        config.style,
        [(m.style, m.weight) for m in config.mix],
        float(strength),
        config.preserve_color,
    )
    return SessionSettings(choice.style, float(strength), quality, choice=choice)


def style_info(
    style: Style, fields: field_limits.FieldLimits = field_limits.FieldLimits()
) -> pb.StyleInfo:
    """A style as replies list it; text from its card is trimmed to the reply limits (a card
    written by hand, or before the limits, may hold anything)."""
    c = style.card
    meta = {
        "source": c.source,
        "license": c.license,
        "created": c.created,
        "origin": style.origin,
        "architecture": str(c.architecture) if c.architecture else "",
        "notes": c.notes,
    }
    base = style.kind.base_of(c)
    if base is not None:
        meta["model"] = base  # the model the style belongs to (AddStyle's `model`)
    thumbnail = (
        style.thumbnail_png if len(style.thumbnail_png) <= fields.max_thumbnail_bytes else b""
    )
    return pb.StyleInfo(
        id=style.id,
        kind=c.kind,
        display_name=field_limits.trimmed(c.display_name, fields.max_display_name_chars),
        thumbnail_png=thumbnail,
        metadata={
            k: field_limits.trimmed(v, fields.max_metadata_chars) for k, v in meta.items() if v
        },
    )


def list_page(
    styles: list[Style], request: pb.ListStylesRequest, fields: field_limits.FieldLimits
) -> pb.ListStylesReply:
    """One page of `styles` (in id order) after `request.page_token`: at most page_size styles
    and at most fields.list_reply_bytes, so no number or size of styles makes a reply that a
    client cannot receive."""
    field_limits.check_length("page_token", request.page_token, fields.max_name_chars)
    limit = min(request.page_size or fields.max_list_styles_page, fields.max_list_styles_page)
    reply, size = pb.ListStylesReply(), 0
    for style in (s for s in styles if s.id > request.page_token):
        info = style_info(style, fields)
        size += info.ByteSize() + 8  # the field's tag and length
        if len(reply.styles) == limit or (reply.styles and size > fields.list_reply_bytes):
            reply.next_page_token = reply.styles[-1].id
            break
        reply.styles.append(info)
    return reply


class Engine:
    """What every stream shares: the registry, the pipeline and the device's turn-taking."""

    def __init__(
        self,
        registry: Registry,
        device: torch.device,
        limits: FrameLimits,
        run_options: RunOptions = RunOptions(),
    ) -> None:
        self.registry = registry
        self.device = device
        self.limits = limits
        self.device_guard = DeviceGuard(
            device
        )  # out of memory -> RESOURCE_EXHAUSTED; device errors -> UNAVAILABLE
        self.pipeline = GuardedPipeline(device, guard=self.device_guard)
        self.runs = Runs(self.pipeline, run_options)  # backends, precisions, runners per style
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artem-model")
        self._turn = asyncio.Lock()  # FIFO: waiting streams are served in arrival order
        self.regions = RegionTable(pin=device.type == "cuda")
        self.codec = JpegCodec(device)
        self.choices = ChoiceCache()  # one module per distinct mix/strength/colour choice
        self.style_limits = StyleImageLimits()
        self.fields = field_limits.FieldLimits()  # strings and repeated fields of requests
        # AddStyle encodes a whole image: on its own thread, so streams keep their turns meanwhile.
        self.style_executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="artem-add-style"
        )
        self.frame_deadline_s = (
            5.0  # how long a frame may wait for its runner's build (ServerLimits)
        )
        self._waiting: dict[object, float] = {}  # frames waiting for the device's turn: since when
        self._busy_since: float | None = None  # the model thread's current frame: since when

    def stalled_s(self) -> float:
        """How long the oldest frame has waited for the model or been in it (0: none): what
        health compares with the frame deadline."""
        now, busy = time.monotonic(), self._busy_since
        oldest = min(self._waiting.values(), default=now)
        return max(now - oldest, now - busy if busy is not None else 0.0)

    def _process(self, *args):
        """frame_step.run_frame on the model thread, timed for `stalled_s`."""
        self._busy_since = time.monotonic()
        try:
            return run_frame(*args)
        finally:
            self._busy_since = None

    async def runner_for(self, s: SessionSettings):
        """The session's built runner. Its build runs on the build thread; a frame waits for it
        until the build is frame_deadline_s old (never holding the device's turn), after that
        frames are answered UNAVAILABLE at once until it is ready."""
        run = s.run or self.runs.default
        got = self.runs.request(s.model, run, f"{s.label} on {run.backend} {run.precision}")
        if not isinstance(got, Build):
            return got
        deadline = self.frame_deadline_s
        wait = got.started + deadline - time.monotonic() if deadline > 0 else None  # 0: no deadline
        if (wait is None or wait > 0) and not got.future.done():
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(got.future)), wait)
            except Exception:  # the build's own error is read below; a timeout leaves it running
                pass
        if not got.future.done():
            raise Unavailable(
                f"the runner for {got.label} is still being built ({got.seconds():.0f} s so far); "
                "this stream's frames are stylized once it is ready, other streams go on"
            )
        error = got.future.exception()
        if error is None:
            return got.future.result()
        if isinstance(error, ArtemError):
            raise type(error)(str(error))
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise Unavailable(f"building the runner for {got.label} failed: {detail}")

    async def stylize(self, pending: PendingFrame) -> wire.Message:
        """Run one frame: JPEG decoding, then the device turn, then JPEG encoding; the reply's
        views name where the pixels went (in the reply's own bytes for inline, beside it for
        JPEG, in the reply slot for shm)."""
        loop = asyncio.get_running_loop()
        picked = time.perf_counter()
        s, pixels = pending.settings, pending.pixels
        frame = pb.StylizedFrame(
            id=pending.frame.id,
            capture_time_us=pending.frame.capture_time_us,
            style=s.label,
            views=pixels.reply_views(),
        )
        jpeg = bool(pixels.jpegs)
        if jpeg:
            await loop.run_in_executor(None, pixels.decode, self.codec)
        identity = not s.style.kind.runs_model
        runner = None if identity else await self.runner_for(s)  # UNAVAILABLE while it is built
        waiting = time.perf_counter()
        token = object()
        self._waiting[token] = time.monotonic()
        try:
            async with self._turn:
                del self._waiting[token]
                started = time.perf_counter()
                times = StageTimes()
                # laid out on the device's turn, so streams that wait for it hold no reply memory
                pixels.lay_out_in_place(frame)
                results, copy_s = await loop.run_in_executor(
                    self.executor,
                    self._process,
                    self.runs.bind(s.run, runner),
                    s.model,
                    identity,
                    pixels,
                    s.pixel_strength,
                    times,
                )
        finally:
            self._waiting.pop(token, None)
        ran = time.perf_counter()
        if jpeg:
            await loop.run_in_executor(None, pixels.encode, results, self.codec, s.jpeg_quality)
        done = time.perf_counter()
        # everything on the model thread but the pipeline is moving pixels (slots, JPEG alpha)
        transfer = (
            (waiting - picked)
            + max((ran - started) - times.convert_s - times.model_s, copy_s)
            + (done - ran)
        )
        frame.timings.CopyFrom(
            pb.Timings(
                queue_ms=((picked - pending.arrived) + (started - waiting)) * 1e3,
                convert_ms=times.convert_s * 1e3,
                model_ms=times.model_s * 1e3,
                transfer_ms=transfer * 1e3,
                total_ms=(time.perf_counter() - pending.arrived) * 1e3,
            )
        )
        return pixels.reply(pb.StylizeReply(frame=frame), results)

    def release_region(self, region: Region) -> None:
        """Unmap a stream's region on the model thread, after any frame of it already queued
        there: nothing unmaps pixels that a running frame still reads or writes."""

        def release() -> None:
            try:
                self.regions.release(region)
            except BufferError:
                log.error("shared-memory region %r is still in use and stays mapped", region.name)

        try:
            self.executor.submit(release)
        except RuntimeError:  # executor shut down: no frame can be running
            release()

    def close(self) -> None:
        self.runs.close()
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.style_executor.shutdown(wait=True, cancel_futures=True)
        self.regions.close_all()
        self.codec.close()


# Frame replies with pixels made but not yet taken by gRPC (which takes the next only once the
# client's flow control lets the last one go). Two, not one: the next frame runs while the last
# reply is being sent, as before, so a client with two frames in flight loses none of them.
MAX_UNSENT_FRAMES = 2
# Replies of any kind queued for a client that does not read them (configs, refused frames):
# past this, the stream's requests are not read until it reads (its sends then wait on gRPC's
# flow control in turn).
MAX_QUEUED_REPLIES = 16
# Refused shared-memory registrations logged per stream: enough to diagnose a client, not a
# line per config for one that keeps sending them.
LOGGED_SHM_REFUSALS = 3


class StreamSession:
    """One Stylize call: a reader task takes requests, a worker task runs frames, and the
    handler yields replies from `out` in the order they are ready."""

    END = object()

    def __init__(self, engine: Engine, peer: str = "") -> None:
        self.engine = engine
        self.peer = peer  # gRPC's peer string: shared memory only for a client on this host
        self.settings: SessionSettings | None = None
        self.pending: PendingFrame | None = None
        self.dropped = 0
        self.frame_ready = asyncio.Event()
        self.reading_done = False
        self.out: asyncio.Queue = asyncio.Queue()
        self.unsent_frames = (
            0  # frame replies with pixels in `out` or being sent (MAX_UNSENT_FRAMES)
        )
        self.reply_sent = asyncio.Event()  # set whenever gRPC has taken a reply
        self.region: Region | None = None  # the registered shared-memory region, mapped
        self.shm_refusals = 0  # registrations refused; the first LOGGED_SHM_REFUSALS are logged

    async def read(self, requests: AsyncIterator[wire.Message]) -> None:
        try:
            async for req in requests:
                self.handle(req, time.perf_counter())
                while (
                    self.out.qsize() >= MAX_QUEUED_REPLIES
                ):  # the client does not read: neither do we
                    self.reply_sent.clear()
                    await self.reply_sent.wait()
        finally:
            self.reading_done = True
            self.frame_ready.set()

    def sent(self, reply: object) -> None:
        """gRPC has taken `reply` (the client's flow control let it go)."""
        if isinstance(reply, wire.Message):
            self.unsent_frames -= 1
        self.reply_sent.set()

    def state(self) -> pb.SessionState:
        state = self.settings.state() if self.settings else pb.SessionState()
        state.shared_memory = self.region.name if self.region else ""
        return state

    def configure(self, config: pb.SessionConfig) -> None:
        """Apply a config entirely or not at all; a new region replaces the registered one."""
        settings = parse_settings(
            config, self.engine.registry, self.engine.choices, self.engine.fields
        )
        settings = replace(
            settings,
            run=self.engine.runs.choose(
                config.backend,
                config.precision,
                config.render_scale if config.HasField("render_scale") else None,
                settings.style.kind,
                settings.model,
            ),
        )
        if settings.style.kind.runs_model:  # built now on the build thread, not on the first frame
            self.engine.runs.prepare(settings.model, settings.run, settings.label, owner=self)
        if config.HasField("shared_memory"):
            try:
                self.register(config.shared_memory)
            except ArtemError as e:
                self.shm_refusals += 1
                if self.shm_refusals <= LOGGED_SHM_REFUSALS:
                    log.warning("shared-memory registration refused: %s", e)
                raise
        self.settings = settings

    def register(self, r: pb.SharedMemoryRegion) -> None:
        """Map the region `r` names for this stream, in place of the one registered before."""
        if not is_local_peer(self.peer):
            raise PermissionDenied(
                f"config.shared_memory: this stream comes from {self.peer}, not from the "
                "server's host; shared memory serves only clients on the same machine"
            )
        current = self.region
        if current is None or (
            current.name,
            current.layout.slot_count,
            current.layout.slot_size,
        ) != (r.name, r.slot_count, r.slot_size):
            self.region = self.engine.regions.open(
                r.name, r.size, r.slot_count, r.slot_size, owner=self, key=r.key
            )
            if current is not None:
                self.engine.release_region(current)

    def release(self) -> None:
        """The stream is over, however it ended: unmap its region (after any frame of it that
        is on the model thread now)."""
        self.pending = None
        if self.region is not None:
            region, self.region = self.region, None
            self.engine.release_region(region)

    def handle(self, message: wire.Message, arrived: float) -> None:
        req = message.msg
        kind = req.WhichOneof("kind")
        if kind == "config":
            try:
                self.configure(req.config)
                self.out.put_nowait(pb.StylizeReply(session=self.state()))
            except Exception as e:  # answered in the stream, which goes on
                if not isinstance(e, ArtemError):
                    log.exception("config failed")
                self.out.put_nowait(pb.StylizeReply(session=self.state(), error=error_status(e)))
            return
        if kind != "frame":
            self.out.put_nowait(
                pb.StylizeReply(
                    error=pb.Status(
                        code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                        message="request has neither `config` nor `frame` set, or is not a "
                        "StylizeRequest at all",
                    )
                )
            )
            return
        frame = req.frame
        try:
            if self.settings is None:
                raise InvalidArgument(
                    f"frame {frame.id} arrived before any config: the first request "
                    "of a Stylize stream must set `config` (style, strength)"
                )
            pixels = FramePixels.parse(frame, message.pixels, self.region, self.engine.limits)
        except ArtemError as e:
            self.out.put_nowait(
                pb.StylizeReply(
                    frame=pb.StylizedFrame(id=frame.id, capture_time_us=frame.capture_time_us),
                    error=error_status(e),
                )
            )
            return
        if self.pending is not None:
            self.dropped += 1  # latest frame wins: the waiting one is replaced unanswered
        self.pending = PendingFrame(frame, pixels, self.settings, arrived)
        self.frame_ready.set()

    async def work(self) -> None:
        try:
            while True:
                if self.pending is None:
                    if self.reading_done:
                        return
                    self.frame_ready.clear()  # no await from check to wait: no lost wake-up
                    await self.frame_ready.wait()
                    continue
                if (
                    self.unsent_frames >= MAX_UNSENT_FRAMES
                ):  # newer frames replace the waiting one meanwhile
                    self.reply_sent.clear()
                    await self.reply_sent.wait()
                    continue
                pending, self.pending = self.pending, None
                try:
                    result = await self.engine.stylize(pending)
                    result.msg.frame.dropped_frames, self.dropped = self.dropped, 0
                    self.unsent_frames += 1
                    self.out.put_nowait(result)
                except Exception as e:
                    if not isinstance(e, ArtemError):
                        log.exception("frame %d failed", pending.frame.id)
                    self.out.put_nowait(
                        pb.StylizeReply(
                            frame=pb.StylizedFrame(
                                id=pending.frame.id, capture_time_us=pending.frame.capture_time_us
                            ),
                            error=error_status(e),
                        )
                    )
        finally:
            self.out.put_nowait(self.END)


class StylizerService(pb_grpc.StylizerServicer):
    def __init__(self, engine: Engine, streams: StreamGuard | None = None) -> None:
        self.engine = engine
        self.streams = streams or StreamGuard()  # admission, idle timeout, stream ids, metrics
        self.shutting_down = asyncio.Event()
        self._readers: set[asyncio.Task] = set()
        self._undecodable_log = logs.RateLimitedLog(log)
        self._adds: dict[AddCancel, asyncio.Future] = {}  # AddStyle calls under way

    def begin_shutdown(self, grace_s: float = 5.0) -> None:
        """Stop taking frames: each stream answers what it holds, then ends with UNAVAILABLE.
        An AddStyle still encoding a second before the grace ends stops and stores nothing
        (UNAVAILABLE): the client is told the truth before gRPC cuts the call."""
        self.shutting_down.set()
        for reader in list(self._readers):
            reader.cancel()
        asyncio.get_running_loop().call_later(max(grace_s - 1.0, grace_s / 2), self._cancel_adds)

    def _cancel_adds(self) -> None:
        for cancel, abandoned in list(self._adds.items()):
            if cancel.cancel() and not abandoned.done():  # it will store nothing: say so now
                abandoned.set_result(None)

    async def Stylize(self, request_iterator, context: grpc.aio.ServicerContext):
        stream = await self.streams.open(
            context
        )  # UNAVAILABLE when not serving, RESOURCE_EXHAUSTED when full
        session = StreamSession(self.engine, stream.peer)
        reader = asyncio.create_task(session.read(stream.requests(request_iterator)))
        self._readers.add(reader)
        worker = asyncio.create_task(session.work())
        try:
            while (reply := await stream.next_reply(session.out)) is not StreamSession.END:
                yield reply  # returns once gRPC took it (waits on the client's flow control)
                session.sent(reply)
        finally:
            self._readers.discard(reader)
            reader.cancel()
            worker.cancel()
            session.release()
            stream.close()
        if self.shutting_down.is_set():
            await self.streams.refuse(
                context, Unavailable("server is shutting down; reconnect")
            )  # counted

    async def refuse_undecodable(
        self, request: Undecodable, context: grpc.aio.ServicerContext
    ) -> None:
        """A unary request that does not parse: INVALID_ARGUMENT, and one short log line at most
        every 10 s however many come (a client that is not even authenticated may send them)."""
        self._undecodable_log.warning(
            "refused a %d-byte request that is not a valid %s (peer %s)",
            request.size,
            request.type_name,
            context.peer(),
        )
        await self.streams.refuse(
            context,
            InvalidArgument(
                f"the request's {request.size} bytes are not a valid {request.type_name} message"
            ),
        )

    async def ListStyles(self, request: pb.ListStylesRequest, context) -> pb.ListStylesReply:
        try:
            return list_page(self.engine.registry.styles(), request, self.engine.fields)
        except ArtemError as e:
            await self.streams.refuse(context, e)

    async def AddStyle(
        self, request: pb.AddStyleRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddStyleReply:
        """Checked, encoded and stored off the event loop; nothing is stored when it fails."""
        engine = self.engine
        cancel, loop = AddCancel(), asyncio.get_running_loop()
        abandoned = self._adds[cancel] = loop.create_future()  # set when shutdown cancels it
        try:
            if engine.registry.models_dir is None:
                raise Unavailable("this server has no models directory to store styles in")
            if self.shutting_down.is_set():
                raise Unavailable(
                    "the server is shutting down: add the style on another replica or later"
                )
            size = request.size if request.HasField("size") and request.size else None
            adding = loop.run_in_executor(
                engine.style_executor,
                partial(
                    add_style,
                    engine.registry,
                    engine.registry.models_dir,
                    request.name,
                    request.model,
                    request.image,
                    size,
                    source=f"AddStyle: a {len(request.image)}-byte image over gRPC",
                    display_name=request.display_name,
                    replace=request.replace,
                    limits=engine.style_limits,
                    fields=engine.fields,
                    cancel=cancel,
                ),
            )
            await asyncio.wait([adding, abandoned], return_when=asyncio.FIRST_COMPLETED)
            if not adding.done():  # cancelled before its commit: the encoder stops after its layer
                adding.add_done_callback(lambda f: f.exception())
                raise Unavailable(
                    f"style {request.name!r} was not stored: the server is shutting down; add it "
                    "again (on another replica, or once this one is back)"
                )
            style = adding.result()
        except (
            asyncio.CancelledError
        ):  # the client went away, or gRPC ended the call: store nothing
            cancel.cancel()
            raise
        except Exception as e:
            if not isinstance(e, ArtemError):
                log.exception("AddStyle %r failed", request.name)
            await context.abort(*status_of(e))
        finally:
            self._adds.pop(cancel, None)
        return pb.AddStyleReply(id=style.id, style=style_info(style, engine.fields))

    async def GetServerInfo(self, request: pb.GetServerInfoRequest, context) -> pb.ServerInfo:
        dev = self.engine.device
        name = f"{dev} ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else str(dev)
        lim, server = self.engine.limits, self.streams.limits
        fields, images = self.engine.fields, self.engine.style_limits
        return pb.ServerInfo(
            version=__version__,
            device=name,
            backends=self.engine.runs.available,
            pixel_formats=[f.wire for f in PixelFormat],
            max_frame_bytes=lim.max_frame_bytes,
            max_views=lim.max_views,
            max_dimension=lim.max_dimension,
            adain_models=[m.name for m in self.engine.registry.bases()],  # the wire's name
            max_streams=server.max_streams,
            stream_idle_timeout_s=server.stream_idle_timeout_s,
            max_style_image_bytes=server.max_style_image_bytes,
            max_added_styles=server.max_added_styles,
            max_streams_per_connection=server.max_streams_per_connection,
            frame_deadline_s=server.frame_deadline_s,
            max_mix_styles=fields.max_mix_styles,
            max_name_chars=fields.max_name_chars,
            max_display_name_chars=fields.max_display_name_chars,
            max_list_styles_page=fields.max_list_styles_page,
            max_style_pixels=images.max_style_pixels,
            max_style_decoded_pixels=images.max_decoded_pixels,
        )
