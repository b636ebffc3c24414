"""How the client's frames travel: inline bytes, a shared-memory ring, or JPEG.

Each transport gives the arrays a frame may be drawn into (`targets`: the request's own bytes,
its slot, or the JPEG encoder's input), turns a frame's images into a request (copying them
there once, unless they were drawn there) and a reply back into images. Images are
(H, W, bpp) uint8 in the stream's pixel format. The C++ engine client implements the same
steps; docs/shared-memory.md has the shm protocol.
"""

from __future__ import annotations

import os
import queue
import threading
from multiprocessing import shared_memory

import numpy as np
from artem_protocol import fresh_bytes, wire
from artem_protocol import shm as layout
from artem_protocol.copy import copy_many
from artem_protocol.jpeg import DEFAULT_QUALITY, JpegCodec
from artem_protocol.pixels import PixelFormat, rows_view
from artem_protocol.rpc import pb
from artem_protocol.wire import Message

from .frames import BYTES_PER_PIXEL

TRANSPORTS = ("inline", "shm", "jpeg")


def _view(shape: tuple[int, ...], fmt: int, linear: bool) -> pb.View:
    h, w = shape[:2]
    color = pb.COLOR_SPACE_LINEAR if linear else pb.COLOR_SPACE_SRGB
    return pb.View(width=w, height=h, format=fmt, color_space=color)


def _rows(buf, view: pb.View, offset: int = 0) -> np.ndarray:
    """(H, W, bpp) view of a reply's pixels in `buf` at `offset` (no copy)."""
    bpp = BYTES_PER_PIXEL[view.format]
    return rows_view(buf, view.width, view.height, bpp, view.row_stride, offset)


class Inline:
    """Pixels inside the gRPC messages: works anywhere, costs the pipe (~0.7 GB/s in Python).

    A frame's request is laid out before its pixels (wire.InPlaceFrame): a renderer draws into
    it, or the frame's images are copied in (one copy). Its bytes serve again, pixels and all,
    once gRPC has sent them and let go."""

    name = "inline"
    KEPT = 4  # request buffers kept for reuse: one gRPC is sending, one being drawn, spares

    def __init__(self, view_shapes: list[tuple[int, int, int]]) -> None:
        self.shapes = [tuple(s) for s in view_shapes]
        # the views (shapes, format, colour space) the kept buffers are laid out for
        self._layout: tuple = ()
        self._kept: list[wire.InPlaceFrame] = []
        self._drawn: dict[
            int, wire.InPlaceFrame
        ] = {}  # frame id -> its buffer, from targets() to request()
        self._canvas: list[
            np.ndarray
        ] = []  # where frames are drawn without CPython (then copied in)

    def configure(self, config: pb.SessionConfig) -> None:
        pass

    def _buffer(self, shapes: list[tuple[int, ...]], fmt: int, linear: bool) -> wire.InPlaceFrame:
        """A request buffer for these views: a kept one that gRPC is done with, or a new one.
        Only the latest views' buffers are kept, so frames of ever new sizes hold no memory."""
        layout = (tuple(shapes), fmt, linear)
        if layout != self._layout:
            self._layout, self._kept = layout, []
        kept = self._kept
        for buf in kept:
            if buf.reopen():
                return buf
        views = [_view(shape, fmt, linear) for shape in shapes]
        for v in views:
            v.data = b""
        buf = wire.InPlaceFrame(pb.StylizeRequest, pb.Frame(views=views), shapes)
        if len(kept) < self.KEPT:
            kept.append(buf)
        return buf

    def targets(self, fid: int, fmt: int, linear: bool) -> list[np.ndarray]:
        """Where frame `fid`'s views are to be drawn: its request's own bytes."""
        if not fresh_bytes.available():
            self._canvas = self._canvas or [np.zeros(s, np.uint8) for s in self.shapes]
            return self._canvas
        buf = self._drawn[fid] = self._buffer(self.shapes, fmt, linear)
        assert buf.arrays is not None
        return buf.arrays

    def request(self, fid: int, images: list[np.ndarray], fmt: int, linear: bool) -> Message:
        views = []
        for img in images:
            v = _view(img.shape, fmt, linear)
            v.data = (
                b""  # the pixels are in place, or travel beside the message: wire joins them in
            )
            views.append(v)
        msg = pb.StylizeRequest(frame=pb.Frame(id=fid, views=views))
        if not fresh_bytes.available():
            return Message(msg, list(images))
        buf = self._drawn.pop(fid, None) or self._buffer([img.shape for img in images], fmt, linear)
        assert buf.arrays is not None
        if any(img is not t for img, t in zip(images, buf.arrays)):  # not drawn in place: copied in
            copy_many(
                list(zip(buf.arrays, images))
            )  # the frame's one copy, all views in one hand-off
        return Message(msg, [], buf)

    def images(self, reply: Message) -> list[np.ndarray]:
        return [_rows(px, v) for v, px in zip(reply.msg.frame.views, reply.pixels)]

    def done(self, fid: int) -> None:
        pass

    def close(self) -> None:
        pass


class SharedMemory:
    """A ring of request/reply slot pairs in a region this client creates (same host only).
    Frame `fid` takes a free slot; its slot frees when its reply, or a later frame's reply
    (which accounts for it as dropped), has been read."""

    name = "shm"

    def __init__(self, view_shapes: list[tuple[int, int, int]], slots: int = 2) -> None:
        self.shapes = [tuple(s) for s in view_shapes]
        self.layout, self.offsets = layout.Layout.for_views(
            [h * w * c for h, w, c in view_shapes], slots
        )
        name = f"artem-{os.getpid()}-{os.urandom(4).hex()}"
        self.region = shared_memory.SharedMemory(name=name, create=True, size=self.layout.size)
        self.key = layout.new_key()  # binds the region to this client (docs/shared-memory.md)
        self.region.buf[: layout.HEADER.size] = self.layout.header(self.key)
        self.free: queue.Queue[int] = queue.Queue()
        for i in range(slots):
            self.free.put(i)
        self.slot_of: dict[int, int] = {}  # frame id -> its slot, until answered or dropped
        self._drawn: dict[
            int, list[np.ndarray]
        ] = {}  # frame id -> its slot's arrays, from targets() to request()
        self._lock = (
            threading.Lock()
        )  # requests are made on gRPC's thread, replies read on the caller's

    def configure(self, config: pb.SessionConfig) -> None:
        config.shared_memory.CopyFrom(
            pb.SharedMemoryRegion(
                name=self.region.name.lstrip("/"),
                size=self.layout.size,
                slot_count=self.layout.slot_count,
                slot_size=self.layout.slot_size,
                key=self.key,
            )
        )

    def _array(self, base: int, offset: int, h: int, w: int, c: int) -> np.ndarray:
        return np.ndarray((h, w, c), np.uint8, self.region.buf, base + offset)

    def _take_slot(self, fid: int) -> int:
        slot = self.free.get(timeout=30)  # a free slot always exists when credits are respected
        with self._lock:
            self.slot_of[fid] = slot
        return slot

    def targets(self, fid: int, fmt: int, linear: bool) -> list[np.ndarray]:
        """Where frame `fid`'s views are to be drawn: a free request slot, which it takes."""
        base = self.layout.request_offset(self._take_slot(fid))
        arrays = self._drawn[fid] = [
            self._array(base, offset, *shape) for shape, offset in zip(self.shapes, self.offsets)
        ]
        return arrays

    def request(self, fid: int, images: list[np.ndarray], fmt: int, linear: bool) -> Message:
        if [img.shape for img in images] != self.shapes:
            raise ValueError(
                f"shm transport: frame {fid} has views {[img.shape for img in images]}; the "
                f"region's "
                f"slots were laid out for the first frame's {self.shapes}"
            )
        drawn = self._drawn.pop(fid, None)
        slot = self.slot_of[fid] if drawn is not None else self._take_slot(fid)
        base = self.layout.request_offset(slot)
        views, pairs = [], []
        for i, (img, offset) in enumerate(zip(images, self.offsets)):
            if drawn is None or img is not drawn[i]:
                pairs.append((self._array(base, offset, *img.shape), img))
            v = _view(img.shape, fmt, linear)
            v.shm.slot, v.shm.offset = slot, offset
            views.append(v)
        copy_many(
            pairs
        )  # the frame's one copy, all views in one hand-off (none when drawn in the slot)
        return Message(pb.StylizeRequest(frame=pb.Frame(id=fid, views=views)), [None] * len(views))

    def images(self, reply: Message) -> list[np.ndarray]:
        """Views of the reply slot (no copy), valid until its slot is reused."""
        return [
            _rows(self.region.buf, v, self.layout.reply_offset(v.shm.slot) + v.shm.offset)
            for v in reply.msg.frame.views
        ]

    def done(self, fid: int) -> None:
        """Frames up to `fid` are answered or dropped: their slots are free again."""
        with self._lock:
            for f in sorted(k for k in self.slot_of if k <= fid):
                self.free.put(self.slot_of.pop(f))

    def close(self) -> None:
        import gc

        gc.collect()  # numpy views of the buffer must be gone before it unmaps
        try:
            self.region.close()
        except BufferError:
            pass  # a caller still holds a view: the mapping goes with it; the name goes now
        finally:
            self.region.unlink()


class Jpeg:
    """JPEG both ways, at `quality` (for networks; a headset on Wi-Fi). Alpha is not carried."""

    name = "jpeg"

    def __init__(
        self, view_shapes: list[tuple[int, int, int]], quality: int = DEFAULT_QUALITY
    ) -> None:
        self.quality = quality
        self.codec = JpegCodec()
        self.shapes = [tuple(s) for s in view_shapes]
        self._canvas: list[np.ndarray] = []  # what targets() gives to draw in, made on first use

    def configure(self, config: pb.SessionConfig) -> None:
        config.jpeg_quality = self.quality

    def targets(self, fid: int, fmt: int, linear: bool) -> list[np.ndarray]:
        """Where frame `fid`'s views are drawn: arrays of this client's, encoded from there."""
        self._canvas = self._canvas or [np.zeros(s, np.uint8) for s in self.shapes]
        return self._canvas

    def request(self, fid: int, images: list[np.ndarray], fmt: int, linear: bool) -> Message:
        order = list(PixelFormat.from_wire(fmt).rgb_order)
        data = self.codec.encode_many([img[..., order] for img in images], self.quality)
        views = []
        for img in images:
            v = _view(img.shape, fmt, linear)
            v.jpeg = b""
            views.append(v)
        return Message(pb.StylizeRequest(frame=pb.Frame(id=fid, views=views)), data)

    def images(self, reply: Message) -> list[np.ndarray]:
        views = reply.msg.frame.views
        rgbs = self.codec.decode_many(
            [
                (px, v.width, v.height, f"reply.views[{i}]")
                for i, (v, px) in enumerate(zip(views, reply.pixels))
            ]
        )
        out = []
        for v, rgb in zip(views, rgbs):
            fmt = PixelFormat.from_wire(v.format)
            if fmt.alpha_index is None:
                out.append(rgb)
                continue
            img = np.empty((v.height, v.width, fmt.bpp), np.uint8)
            img[..., list(fmt.rgb_order)] = rgb
            img[..., fmt.alpha_index] = 255
            out.append(img)
        return out

    def done(self, fid: int) -> None:
        pass

    def close(self) -> None:
        self.codec.close()


Carrier = Inline | SharedMemory | Jpeg


def make(
    name: str, view_shapes: list[tuple[int, int, int]], slots: int, jpeg_quality: int | None
) -> Carrier:
    """The transport called `name` for frames of these view shapes."""
    if name == "inline":
        return Inline(view_shapes)
    if name == "shm":
        return SharedMemory(view_shapes, slots)
    if name == "jpeg":
        return Jpeg(view_shapes, jpeg_quality or DEFAULT_QUALITY)
    raise ValueError(f"transport {name!r}: expected one of {', '.join(TRANSPORTS)}")
