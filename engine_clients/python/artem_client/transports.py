"""How the client's frames travel: inline bytes, a shared-memory ring, or JPEG.

Each transport turns a frame's images into a request (pixels beside the message, for
artem_server.transport.wire, so nothing is copied but into the outgoing bytes or the slot)
and a reply back into images. Images are (H, W, bpp) uint8 in the stream's pixel format.
The C++ engine client implements the same steps; docs/shared-memory.md has the shm protocol.
"""

from __future__ import annotations

import os
import queue
import threading
from multiprocessing import shared_memory

import numpy as np
import torch

from artem_server.rpc import pb
from artem_server.transport import shm as layout
from artem_server.transport.copy import copy_many
from artem_server.transport.jpeg import DEFAULT_QUALITY, JpegCodec
from artem_server.transport.wire import Message

from .frames import BYTES_PER_PIXEL

_RGB_ORDER = {pb.PIXEL_FORMAT_RGBA8: [0, 1, 2], pb.PIXEL_FORMAT_BGRA8: [2, 1, 0], pb.PIXEL_FORMAT_RGB8: [0, 1, 2]}
TRANSPORTS = ("inline", "shm", "jpeg")


def _view(img: np.ndarray, fmt: int, linear: bool) -> pb.View:
    h, w, _ = img.shape
    color = pb.COLOR_SPACE_LINEAR if linear else pb.COLOR_SPACE_SRGB
    return pb.View(width=w, height=h, format=fmt, color_space=color)


def _rows(buf, view: pb.View) -> np.ndarray:
    """(H, W, bpp) view of a reply's inline bytes (no copy)."""
    bpp = BYTES_PER_PIXEL[view.format]
    stride = view.row_stride or view.width * bpp
    flat = np.frombuffer(buf, dtype=np.uint8)
    return np.lib.stride_tricks.as_strided(flat, shape=(view.height, view.width, bpp), strides=(stride, bpp, 1))


class Inline:
    """Pixels inside the gRPC messages: works anywhere, costs the pipe (~0.7 GB/s in Python)."""

    name = "inline"

    def configure(self, config: pb.SessionConfig) -> None:
        pass

    def request(self, fid: int, images: list[np.ndarray], fmt: int, linear: bool) -> Message:
        views = []
        for img in images:
            v = _view(img, fmt, linear)
            v.data = b""  # the pixels travel beside the message: wire joins them in, one copy
            views.append(v)
        return Message(pb.StylizeRequest(frame=pb.Frame(id=fid, views=views)), list(images))

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
        self.layout, self.offsets = layout.Layout.for_views([h * w * c for h, w, c in view_shapes], slots)
        name = f"artem-{os.getpid()}-{os.urandom(4).hex()}"
        self.region = shared_memory.SharedMemory(name=name, create=True, size=self.layout.size)
        self.region.buf[: layout.HEADER.size] = self.layout.header()
        self.free: queue.Queue[int] = queue.Queue()
        for i in range(slots):
            self.free.put(i)
        self.slot_of: dict[int, int] = {}  # frame id -> its slot, until answered or dropped
        self._lock = threading.Lock()  # requests are made on gRPC's thread, replies read on the caller's

    def configure(self, config: pb.SessionConfig) -> None:
        config.shared_memory.CopyFrom(pb.SharedMemoryRegion(
            name=self.region.name.lstrip("/"), size=self.layout.size, slot_count=self.layout.slot_count,
            slot_size=self.layout.slot_size))

    def _array(self, base: int, offset: int, h: int, w: int, c: int) -> np.ndarray:
        return np.ndarray((h, w, c), np.uint8, self.region.buf, base + offset)

    def request(self, fid: int, images: list[np.ndarray], fmt: int, linear: bool) -> Message:
        if [img.shape for img in images] != self.shapes:
            raise ValueError(f"shm transport: frame {fid} has views {[img.shape for img in images]}; the region's "
                             f"slots were laid out for the first frame's {self.shapes}")
        slot = self.free.get(timeout=30)  # a free slot always exists when credits are respected
        with self._lock:
            self.slot_of[fid] = slot
        base = self.layout.request_offset(slot)
        views, pairs = [], []
        for img, offset in zip(images, self.offsets):
            pairs.append((self._array(base, offset, *img.shape), img))
            v = _view(img, fmt, linear)
            v.shm.slot, v.shm.offset = slot, offset
            views.append(v)
        copy_many(pairs)  # the frame's one copy, all views in one hand-off
        return Message(pb.StylizeRequest(frame=pb.Frame(id=fid, views=views)), [None] * len(views))

    def images(self, reply: Message) -> list[np.ndarray]:
        """Views of the reply slot (no copy), valid until its slot is reused."""
        out = []
        for v in reply.msg.frame.views:
            bpp = BYTES_PER_PIXEL[v.format]
            base = self.layout.reply_offset(v.shm.slot) + v.shm.offset
            flat = np.ndarray((v.row_stride * (v.height - 1) + v.width * bpp,), np.uint8, self.region.buf, base)
            out.append(np.lib.stride_tricks.as_strided(flat, (v.height, v.width, bpp), (v.row_stride, bpp, 1)))
        return out

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

    def __init__(self, quality: int = DEFAULT_QUALITY) -> None:
        self.quality = quality
        self.codec = JpegCodec(torch.device("cpu"))

    def configure(self, config: pb.SessionConfig) -> None:
        config.jpeg_quality = self.quality

    def request(self, fid: int, images: list[np.ndarray], fmt: int, linear: bool) -> Message:
        order = _RGB_ORDER[fmt]
        data = self.codec.encode_many([img[..., order] for img in images], self.quality)
        views = []
        for img in images:
            v = _view(img, fmt, linear)
            v.jpeg = b""
            views.append(v)
        return Message(pb.StylizeRequest(frame=pb.Frame(id=fid, views=views)), data)

    def images(self, reply: Message) -> list[np.ndarray]:
        views = reply.msg.frame.views
        rgbs = self.codec.decode_many([(px, v.width, v.height, f"reply.views[{i}]")
                                       for i, (v, px) in enumerate(zip(views, reply.pixels))])
        out = []
        for v, rgb in zip(views, rgbs):
            if v.format == pb.PIXEL_FORMAT_RGB8:
                out.append(rgb)
                continue
            img = np.empty((v.height, v.width, 4), np.uint8)
            img[..., _RGB_ORDER[v.format]] = rgb
            img[..., 3] = 255
            out.append(img)
        return out

    def done(self, fid: int) -> None:
        pass

    def close(self) -> None:
        self.codec.close()


def make(name: str, view_shapes: list[tuple[int, int, int]], slots: int,
         jpeg_quality: int | None) -> Inline | SharedMemory | Jpeg:
    """The transport called `name` for frames of these view shapes."""
    if name == "inline":
        return Inline()
    if name == "shm":
        return SharedMemory(view_shapes, slots)
    if name == "jpeg":
        return Jpeg(jpeg_quality or DEFAULT_QUALITY)
    raise ValueError(f"transport {name!r}: expected one of {', '.join(TRANSPORTS)}")
