"""Where a view's pixels travel on the server: one class per carrier, behind one protocol.

A request view names its carrier (proto View.pixels): `Inline` (the message's own bytes),
`SharedMemorySlot` (a slot of the region the stream registered) or `Jpeg`; its reply goes back
the same way (inline -> inline, shm slot i -> reply slot i at the same offset and row_stride,
jpeg -> jpeg at the session's quality). Each carrier gives the view's pixels (`read`), where its
result is to be written (`destination`, or None: it travels beside the reply) and the reply's
view and pixels. `FramePixels` holds a frame's carriers: checked at the edge (on the event loop,
reading no pixels), JPEG coded off the event loop, read and written on the model thread.

This layer moves bytes; it never runs the model (artem_server.frame_step does, between `read`
and `write`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from artem_protocol import fresh_bytes, wire
from artem_protocol.copy import copy_many
from artem_protocol.rpc import pb
from artem_protocol.wire import Buffer

from ..errors import InvalidArgument, ResourceExhausted
from ..frames import FrameLimits, PixelFormat, View, check_size, pixel_format, view_pixels
from .jpeg import JpegCodec
from .shm import Region, check_view_fits

_COLOR_SPACES = (pb.COLOR_SPACE_UNSPECIFIED, pb.COLOR_SPACE_SRGB, pb.COLOR_SPACE_LINEAR)


@dataclass(frozen=True)
class ViewSpec:
    """A checked request view's geometry: (H, W, bpp) in `format`, rows `row_stride` apart."""

    width: int
    height: int
    format: PixelFormat
    linear: bool
    row_stride: int  # effective (never 0)
    field: str  # "frame.views[i]", for messages

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, self.format.bpp

    @property
    def nbytes(self) -> int:
        """The bytes its rows span, the last row ending at its last pixel."""
        return self.row_stride * (self.height - 1) + self.width * self.format.bpp

    def reply_view(self) -> pb.View:
        """The reply's view of the same geometry, its carrier not yet set."""
        color = pb.COLOR_SPACE_LINEAR if self.linear else pb.COLOR_SPACE_SRGB
        return pb.View(
            width=self.width, height=self.height, format=self.format.wire, color_space=color
        )


class Carrier(Protocol):
    """What the frame path asks of a view's carrier."""

    spec: ViewSpec

    def read(self) -> View:
        """The view's pixels, (H, W, bpp) uint8, not copied where they can be viewed."""

    def destination(self) -> np.ndarray | None:
        """Where the view's result is to be written (H, W, bpp), or None: it is returned and
        travels beside the reply (`reply_pixels`)."""

    def reply_view(self) -> pb.View:
        """The reply's view: the geometry and which carrier brings its pixels back."""

    def reply_pixels(self, result: np.ndarray | None) -> Buffer | None:
        """What travels beside the reply's view (artem_protocol.wire): inline results, JPEGs."""


class Inline:
    """Pixels inside the message: read where gRPC put them (no copy). A reply laid out in place
    (`into`, an array in the bytes gRPC sends) is written there; otherwise the result travels
    beside the reply and is joined into its bytes."""

    def __init__(self, spec: ViewSpec, pixels: View) -> None:
        self.spec, self.pixels = spec, pixels
        self.into: np.ndarray | None = None

    def read(self) -> View:
        return self.pixels

    def destination(self) -> np.ndarray | None:
        return self.into

    def reply_view(self) -> pb.View:
        v = self.spec.reply_view()
        v.row_stride = self.spec.width * self.spec.format.bpp
        v.data = b""  # placeholder: the pixels are in place or beside the message
        return v

    def reply_pixels(self, result: np.ndarray | None) -> Buffer | None:
        return result


class SharedMemorySlot:
    """Pixels in slot `slot` of the stream's region, at `offset`: read in the request slot,
    written into the reply slot of the same number (docs/shared-memory.md). The region is the
    one registered when the frame arrived; the client may shrink its file at any time, so the
    frame checks the file's size right before each access (FramePixels.check_region)."""

    def __init__(self, spec: ViewSpec, region: Region, slot: int, offset: int) -> None:
        self.spec, self.region, self.slot, self.offset = spec, region, slot, offset

    def end(self) -> int:
        """The end of its bytes in the reply slot, which lies after the request slot."""
        return self.region.layout.reply_offset(self.slot) + self.offset + self.spec.nbytes

    def _array(self, at: int) -> np.ndarray:
        s = self.spec
        return self.region.array(at + self.offset, s.height, s.width, s.format.bpp, s.row_stride)

    def read(self) -> View:
        px = self._array(self.region.layout.request_offset(self.slot))
        px.flags.writeable = False
        return View(px, self.spec.format, self.spec.linear)

    def destination(self) -> np.ndarray | None:
        return self._array(self.region.layout.reply_offset(self.slot))

    def reply_view(self) -> pb.View:
        v = self.spec.reply_view()
        v.row_stride = self.spec.row_stride
        v.shm.slot, v.shm.offset = self.slot, self.offset
        return v

    def reply_pixels(self, result: np.ndarray | None) -> Buffer | None:
        return None  # in the reply slot


class Jpeg:
    """A JPEG image: decoded before the frame's turn on the device (`decoded`, RGB), its result
    encoded after it (`encoded`) at the session's quality. Alpha does not travel: 255."""

    def __init__(self, spec: ViewSpec, data: Buffer) -> None:
        self.spec, self.data = spec, data
        self.decoded: np.ndarray | None = None  # (H, W, 3) RGB
        self.encoded: bytes | None = None

    def read(self) -> View:
        assert self.decoded is not None, "JPEG views are decoded before they are read"
        s = self.spec
        if s.format is PixelFormat.RGB8:
            return View(self.decoded, s.format, s.linear)
        out = np.empty(s.shape, np.uint8)
        out[..., list(s.format.rgb_order)] = self.decoded
        out[..., s.format.alpha_index] = 255
        return View(out, s.format, s.linear)

    def destination(self) -> np.ndarray | None:
        return None

    def reply_view(self) -> pb.View:
        v = self.spec.reply_view()
        v.jpeg = b""  # placeholder: the JPEG bytes travel beside the message
        return v

    def reply_pixels(self, result: np.ndarray | None) -> Buffer | None:
        return self.encoded


def _spec(v: pb.View, field: str, limits: FrameLimits) -> ViewSpec:
    fmt = pixel_format(v.format, f"{field}.format")
    if v.color_space not in _COLOR_SPACES:
        raise InvalidArgument(
            f"{field}.color_space = {v.color_space}: expected 1 (SRGB) or 2 (LINEAR)"
        )
    check_size(v.width, v.height, field, limits)
    packed = v.width * fmt.bpp
    if v.row_stride and v.row_stride < packed:
        raise InvalidArgument(
            f"{field}.row_stride = {v.row_stride}: expected 0 (packed) or at least "
            f"width * {fmt.bpp} = {packed} bytes for {fmt.name}"
        )
    return ViewSpec(
        v.width,
        v.height,
        fmt,
        v.color_space == pb.COLOR_SPACE_LINEAR,
        v.row_stride or packed,
        field,
    )


def _carrier(
    v: pb.View,
    spec: ViewSpec,
    data: Buffer | None,
    region: Region | None,
    shm: list[SharedMemorySlot],
    limits: FrameLimits,
) -> Carrier:
    """The view's carrier, its bytes checked against the limits and the region (`shm`: the
    frame's shared-memory views so far, which it must not overlap)."""
    field = spec.field
    carrier = v.WhichOneof("pixels")
    if carrier == "data":
        buffer = data if data is not None else b""
        px = view_pixels(buffer, v.width, v.height, spec.format, v.row_stride, field, limits)
        return Inline(spec, View(px, spec.format, spec.linear))
    if carrier == "shm":
        if region is None:
            raise InvalidArgument(
                f"{field}.shm: this stream has no shared-memory region: register one in "
                "config.shared_memory first"
            )
        at = f"{field}.shm"
        check_view_fits(
            region.layout, v.shm.slot, v.shm.offset, spec.nbytes, at, limits.max_frame_bytes
        )
        for s in shm:
            if (
                s.slot == v.shm.slot
                and s.offset < v.shm.offset + spec.nbytes
                and v.shm.offset < s.offset + s.spec.row_stride * s.spec.height
            ):
                raise InvalidArgument(
                    f"{field}.shm overlaps {s.spec.field} in slot {s.slot}: each view needs "
                    "its own bytes, since its reply is written at the same place"
                )
        return SharedMemorySlot(spec, region, v.shm.slot, v.shm.offset)
    if data is None or len(data) == 0:
        raise InvalidArgument(f"{field}.jpeg is empty: expected a JPEG image")
    # a JPEG's rows are packed once decoded, whatever its row_stride said
    return Jpeg(replace(spec, row_stride=spec.width * spec.format.bpp), data)


class FramePixels:
    """A frame's views in their carriers, in view order."""

    def __init__(self, carriers: list[Carrier]) -> None:
        self.carriers = carriers
        self.in_place: wire.InPlaceFrame | None = None

    @classmethod
    def parse(
        cls,
        frame: pb.Frame,
        pixels: list[Buffer | None],
        region: Region | None,
        limits: FrameLimits,
    ) -> FramePixels:
        """Validate a frame's views against the limits and the stream's region (the one its shm
        views are read from and written to, whatever the stream registers later); read no
        pixels."""
        n = len(frame.views)
        if not 1 <= n <= limits.max_views:
            raise InvalidArgument(
                f"frame.views has {n} views: expected 1 (mono) or 2 (left, right eye)"
            )
        carriers: list[Carrier] = []
        total = 0
        for i, (v, data) in enumerate(zip(frame.views, pixels)):
            field = f"frame.views[{i}]"
            if v.WhichOneof("pixels") is None:
                raise InvalidArgument(f"{field} has no pixels: expected `data`, `shm` or `jpeg`")
            shm = [c for c in carriers if isinstance(c, SharedMemorySlot)]
            carrier = _carrier(v, _spec(v, field, limits), data, region, shm, limits)
            carriers.append(carrier)
            # a view counts its pixels (a JPEG what it decodes to, bounded before decoding);
            # a shm view the bytes it spans in its slot
            spec = carrier.spec
            shm_view = isinstance(carrier, SharedMemorySlot)
            total += spec.nbytes if shm_view else spec.height * spec.width * spec.format.bpp
            if total > limits.max_frame_bytes:
                raise ResourceExhausted(
                    f"frame of {total} bytes exceeds this server's limit of "
                    f"{limits.max_frame_bytes} bytes (max_frame_bytes)"
                )
        framed = cls(carriers)
        framed.check_region()  # and again on the model thread, right before each access
        return framed

    @property
    def shapes(self) -> list[tuple[int, int, int]]:
        return [c.spec.shape for c in self.carriers]

    def _of(self, kind: type) -> list:
        return [c for c in self.carriers if isinstance(c, kind)]

    @property
    def jpegs(self) -> list[Jpeg]:
        return self._of(Jpeg)

    def check_region(self) -> None:
        """Raise unless the client's file still holds every slot the shm views touch (request and
        reply: the reply slots lie further): call right before reading or writing them."""
        shm = self._of(SharedMemorySlot)
        if not shm:
            return
        if shm[0].region.closed:  # unmapped on the model thread, after the frames before it
            raise InvalidArgument(
                f"{shm[0].spec.field}.shm: the stream's region was replaced or released before "
                "this frame ran"
            )
        end, field = max((s.end(), f"{s.spec.field}.shm") for s in shm)
        shm[0].region.check_extent(end, field)

    def decode(self, codec: JpegCodec) -> None:
        """Decode the JPEG views, both eyes at once (off the event loop, before the turn)."""
        jpegs = self.jpegs
        items = [(j.data, j.spec.width, j.spec.height, j.spec.field) for j in jpegs]
        for j, rgb in zip(jpegs, codec.decode_many(items) if items else []):
            j.decoded = rgb

    def lay_out_in_place(self, frame: pb.StylizedFrame) -> wire.InPlaceFrame | None:
        """When every view is inline: the reply's bytes, laid out now so that the results are
        written where gRPC sends them from (`destination`)."""
        if not fresh_bytes.available() or len(self._of(Inline)) != len(self.carriers):
            return None
        self.in_place = wire.InPlaceFrame(pb.StylizeReply, frame, self.shapes)
        assert self.in_place.arrays is not None
        for carrier, array in zip(self.carriers, self.in_place.arrays):
            carrier.into = array
        return self.in_place

    def read(self) -> list[View]:
        """The pipeline's input views: zero-copy over the request bytes or slot, or decoded."""
        self.check_region()  # right before the first read of the client's file
        return [c.read() for c in self.carriers]

    def destinations(self) -> list[np.ndarray | None]:
        return [c.destination() for c in self.carriers]

    def writable_by_device(self) -> bool:
        """Whether the device may write results into every destination while the model runs:
        the shm views' region is page-locked (a DMA into it cannot fault however the client's
        file changes) or there is none."""
        return all(s.region.pinned for s in self._of(SharedMemorySlot))

    def write(self, results: list[np.ndarray]) -> list[np.ndarray | None]:
        """Copy results into their destinations (checked right before: the model took its time,
        the client may have shrunk its file); returns what travels beside the reply instead."""
        out = self.destinations()
        self.check_region()
        copy_many([(dst, r) for dst, r in zip(out, results) if dst is not None])
        return [None if dst is not None else r for dst, r in zip(out, results)]

    def encode(self, results: list[np.ndarray | None], codec: JpegCodec, quality: int) -> None:
        """Encode the JPEG views' results (off the event loop, after the device's turn)."""
        pairs = [(c, r) for c, r in zip(self.carriers, results) if isinstance(c, Jpeg)]
        rgb = [r[..., list(c.spec.format.rgb_order)] for c, r in pairs]
        for (c, _), data in zip(pairs, codec.encode_many(rgb, quality) if rgb else []):
            c.encoded = data

    def reply_views(self) -> list[pb.View]:
        return [c.reply_view() for c in self.carriers]

    def reply(self, msg: pb.StylizeReply, results: list[np.ndarray | None]) -> wire.Message:
        """The reply with its views' pixels: in place, beside it, or in the reply slots."""
        if self.in_place is not None:
            return wire.Message(msg, [], self.in_place)
        return wire.Message(msg, [c.reply_pixels(r) for c, r in zip(self.carriers, results)])
