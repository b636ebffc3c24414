"""Where a view's pixels travel: inline bytes, a shared-memory slot, or JPEG; in and out.

At the edge (on the event loop) a frame's views are checked and described (`ViewSpec`),
reading no pixels. On the model thread, `inputs` views them (inline: the request's bytes;
shm: the request slot; jpeg: the decoded image), `destinations` gives where the pipeline
writes (reply slots; an inline reply's own bytes, artem_protocol.wire.InPlaceFrame), and
`reply_views` describes the result. A reply uses the carrier of
its request: inline -> inline, shm slot i -> reply slot i at the same offset and row_stride,
jpeg -> jpeg at the session's quality.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from artem_protocol.copy import copy_many
from artem_protocol.rpc import pb
from artem_protocol.wire import Buffer

from ..errors import ArtemError, InvalidArgument, ResourceExhausted
from ..frames import FrameLimits, PixelFormat, View, pixel_format, view_pixels
from .shm import Region, check_view_fits

if TYPE_CHECKING:
    from ..pipeline import Pipeline, StageTimes

log = logging.getLogger(__name__)
_COLOR_SPACES = (pb.COLOR_SPACE_UNSPECIFIED, pb.COLOR_SPACE_SRGB, pb.COLOR_SPACE_LINEAR)


@dataclass(frozen=True)
class ViewSpec:
    """A checked request view: geometry, and where its pixels are (not yet read)."""

    width: int
    height: int
    format: PixelFormat
    linear: bool
    carrier: str  # "data" (inline), "shm" or "jpeg"
    row_stride: int  # effective (never 0)
    field: str  # "frame.views[i]", for messages
    data: Buffer | None = None  # inline or JPEG bytes
    slot: int = 0
    offset: int = 0
    inline: View | None = None  # inline pixels, viewed at the edge (no copy)


def _geometry(v: pb.View, field: str, limits: FrameLimits) -> tuple[PixelFormat, int]:
    fmt = pixel_format(v.format, f"{field}.format")
    if v.color_space not in _COLOR_SPACES:
        raise InvalidArgument(
            f"{field}.color_space = {v.color_space}: expected 1 (SRGB) or 2 (LINEAR)"
        )
    for name, value in (("width", v.width), ("height", v.height)):
        if value <= 0:
            raise InvalidArgument(f"{field}.{name} = {value}: expected a positive number of pixels")
        if value > limits.max_dimension:
            raise ResourceExhausted(
                f"{field}.{name} = {value} exceeds this server's limit of "
                f"{limits.max_dimension} pixels"
            )
    packed = v.width * fmt.bpp
    if v.row_stride and v.row_stride < packed:
        raise InvalidArgument(
            f"{field}.row_stride = {v.row_stride}: expected 0 (packed) or at least "
            f"width * {fmt.bpp} = {packed} bytes for {fmt.name}"
        )
    return fmt, v.row_stride or packed


def parse_frame(
    frame: pb.Frame, pixels: list[Buffer | None], region: Region | None, limits: FrameLimits
) -> list[ViewSpec]:
    """Validate a frame's views against the limits and the session's region; read no pixels."""
    n = len(frame.views)
    if not 1 <= n <= limits.max_views:
        raise InvalidArgument(
            f"frame.views has {n} views: expected 1 (mono) or 2 (left, right eye)"
        )
    specs: list[ViewSpec] = []
    total = 0
    for i, (v, data) in enumerate(zip(frame.views, pixels)):
        field = f"frame.views[{i}]"
        carrier = v.WhichOneof("pixels")
        if carrier is None:
            raise InvalidArgument(f"{field} has no pixels: expected `data`, `shm` or `jpeg`")
        fmt, stride = _geometry(v, field, limits)
        linear = v.color_space == pb.COLOR_SPACE_LINEAR
        if carrier == "data":
            px = view_pixels(
                data if data is not None else b"",
                v.width,
                v.height,
                fmt,
                v.row_stride,
                field,
                limits,
            )
            total += px.nbytes
            specs.append(
                ViewSpec(
                    v.width,
                    v.height,
                    fmt,
                    linear,
                    carrier,
                    stride,
                    field,
                    data,
                    inline=View(px, fmt, linear),
                )
            )
        elif carrier == "shm":
            if region is None:
                raise InvalidArgument(
                    f"{field}.shm: this stream has no shared-memory region: register one in "
                    "config.shared_memory first"
                )
            nbytes = stride * (v.height - 1) + v.width * fmt.bpp
            check_view_fits(
                region.layout,
                v.shm.slot,
                v.shm.offset,
                nbytes,
                f"{field}.shm",
                limits.max_frame_bytes,
            )
            for s in specs:
                if (
                    s.carrier == "shm"
                    and s.slot == v.shm.slot
                    and s.offset < v.shm.offset + nbytes
                    and v.shm.offset < s.offset + s.row_stride * s.height
                ):
                    raise InvalidArgument(
                        f"{field}.shm overlaps {s.field} in slot {s.slot}: each view needs "
                        "its own bytes, since its reply is written at the same place"
                    )
            total += nbytes
            specs.append(
                ViewSpec(
                    v.width,
                    v.height,
                    fmt,
                    linear,
                    carrier,
                    stride,
                    field,
                    slot=v.shm.slot,
                    offset=v.shm.offset,
                )
            )
        else:  # jpeg: decoded size bounded before decoding
            total += v.height * v.width * fmt.bpp
            if data is None or len(data) == 0:
                raise InvalidArgument(f"{field}.jpeg is empty: expected a JPEG image")
            specs.append(
                ViewSpec(v.width, v.height, fmt, linear, carrier, v.width * fmt.bpp, field, data)
            )
        if total > limits.max_frame_bytes:
            raise ResourceExhausted(
                f"frame of {total} bytes exceeds this server's limit of "
                f"{limits.max_frame_bytes} bytes (max_frame_bytes)"
            )
    check_region_extent(specs, region)  # and again on the model thread, right before each access
    return specs


def check_region_extent(specs: list[ViewSpec], region: Region | None) -> None:
    """Raise unless the client's file still holds every slot the shm views touch (request and
    reply: the reply slots lie further): call right before reading or writing them."""
    shm = [s for s in specs if s.carrier == "shm"]
    if region is not None and shm:
        end, field = max(
            (
                region.layout.reply_offset(s.slot)
                + s.offset
                + s.row_stride * (s.height - 1)
                + s.width * s.format.bpp,
                f"{s.field}.shm",
            )
            for s in shm
        )
        region.check_extent(end, field)


def _from_rgb(rgb: np.ndarray, spec: ViewSpec) -> View:
    """A decoded JPEG (H, W, 3) RGB as a view in the spec's format; alpha 255."""
    if spec.format is PixelFormat.RGB8:
        return View(rgb, spec.format, spec.linear)
    out = np.empty((spec.height, spec.width, 4), np.uint8)
    out[..., list(spec.format.rgb_order)] = rgb
    out[..., spec.format.alpha_index] = 255
    return View(out, spec.format, spec.linear)


def inputs(
    specs: list[ViewSpec], region: Region | None, decoded: list[np.ndarray | None]
) -> list[View]:
    """The pipeline's input views: zero-copy over the request bytes or slot, or the decoded JPEG."""
    views: list[View] = []
    checked = False
    for spec, rgb in zip(specs, decoded):
        if spec.carrier == "data":
            assert spec.inline is not None
            views.append(spec.inline)
        elif spec.carrier == "shm":
            if region is None or region.closed:
                raise InvalidArgument(
                    f"{spec.field}.shm: the stream's region was replaced or released before "
                    "this frame ran"
                )
            if not checked:  # right before the first read of the client's file
                check_region_extent(specs, region)
                checked = True
            px = region.array(
                region.layout.request_offset(spec.slot) + spec.offset,
                spec.height,
                spec.width,
                spec.format.bpp,
                spec.row_stride,
            )
            px.flags.writeable = False
            views.append(View(px, spec.format, spec.linear))
        else:
            assert rgb is not None
            views.append(_from_rgb(rgb, spec))
    return views


def destinations(
    specs: list[ViewSpec], region: Region | None, inline: list[np.ndarray] | None = None
) -> list[np.ndarray | None]:
    """Where the pipeline writes each view's result: the reply slot for shm views, the reply's
    own bytes for inline views when it is built in place (`inline`, one array per view), else
    nowhere (the result is returned)."""
    if inline is not None:
        return list(inline)
    return [
        region.array(
            region.layout.reply_offset(s.slot) + s.offset,
            s.height,
            s.width,
            s.format.bpp,
            s.row_stride,
        )
        if s.carrier == "shm" and region is not None
        else None
        for s in specs
    ]


def reply_views(specs: list[ViewSpec]) -> list[pb.View]:
    """The reply's views: each in its request's carrier, the pixels beside (inline, JPEG: an
    empty placeholder says which) or in the reply slot (shm)."""
    views = []
    for spec in specs:
        color = pb.COLOR_SPACE_LINEAR if spec.linear else pb.COLOR_SPACE_SRGB
        v = pb.View(
            width=spec.width, height=spec.height, format=spec.format.wire, color_space=color
        )
        if spec.carrier == "shm":
            v.row_stride = spec.row_stride
            v.shm.slot, v.shm.offset = spec.slot, spec.offset
        elif spec.carrier == "jpeg":
            v.jpeg = b""
        else:
            v.row_stride = spec.width * spec.format.bpp
            v.data = b""
        views.append(v)
    return views


def reply_pixels(
    specs: list[ViewSpec], results: list[np.ndarray | None], jpegs: list[bytes | None]
) -> list[Buffer | None]:
    """What travels beside the reply's views (artem_protocol.wire): inline results, JPEG bytes."""
    return [
        jpeg if s.carrier == "jpeg" else px if s.carrier == "data" else None
        for s, px, jpeg in zip(specs, results, jpegs)
    ]


def process(
    pipeline: Pipeline,
    model: Any,
    identity: bool,
    specs: list[ViewSpec],
    region: Region | None,
    decoded: list[np.ndarray | None],
    strength: float,
    times: StageTimes,
    inline: list[np.ndarray] | None = None,
) -> tuple[list[np.ndarray | None], float]:
    """On the model thread: read the views, run `pipeline` (a Pipeline or a backend's bound
    runner with the same `run`; `model` an nn.Module or runner; timing into `times`),
    write the results into their destinations (reply slots for shm; `inline`, the reply's
    bytes, when given). Returns the results that travel beside the reply (None for those
    written) and the seconds spent moving pixels (identity copies, slot writes).

    Views of the region live only inside this call, so the region may unmap as soon as it
    returns, even when it raised (the exception leaves with no frames attached)."""
    try:
        return _process(pipeline, model, identity, specs, region, decoded, strength, times, inline)
    except Exception as e:
        if not isinstance(e, ArtemError):
            log.exception("frame failed on the model thread")
        e.__cause__ = e.__context__ = None
        raise e.with_traceback(None)  # noqa: B904 (the chain is dropped on purpose: no frames kept)


def _process(
    pipeline: Pipeline,
    model: Any,
    identity: bool,
    specs: list[ViewSpec],
    region: Region | None,
    decoded: list[np.ndarray | None],
    strength: float,
    times: StageTimes,
    inline: list[np.ndarray] | None,
) -> tuple[list[np.ndarray | None], float]:
    views = inputs(specs, region, decoded)  # checks the region's file right before reading it
    out = destinations(specs, region, inline)
    # The identity style computes nothing: its pixels go straight to where the reply wants them
    # (one copy, into a reply slot or the reply's bytes), which is the transport's own floor.
    if not identity and all(dst is not None for dst in out) and (region is None or region.pinned):
        # every view has a destination: the pipeline writes there itself (a DMA from the
        # device when the region is pinned, which cannot fault however the client's file
        # changes), no second copy
        pipeline.run(model, views, strength, times, outputs=out)
        return [None] * len(out), 0.0
    results = [v.pixels for v in views] if identity else pipeline.run(model, views, strength, times)
    t0 = time.perf_counter()
    check_region_extent(
        specs, region
    )  # the model took its time: the client may have shrunk the file
    copy_many([(dst, r) for dst, r in zip(out, results) if dst is not None])
    return [
        None if dst is not None else r for dst, r in zip(out, results)
    ], time.perf_counter() - t0
