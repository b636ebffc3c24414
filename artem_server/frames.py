"""Frames as the server sees them: limits, and zero-copy views of client bytes once checked.

A view's pixels arrive as `height` rows of `row_stride` bytes in one of the protocol's pixel
formats (artem_protocol.pixels); we view them as an (H, W, C) uint8 numpy array over the same
buffer (no copy), after checking every field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from artem_protocol.pixels import PixelFormat, rows_view

from .errors import InvalidArgument, ResourceExhausted

__all__ = ["FrameLimits", "PixelFormat", "View", "check_size", "pixel_format", "view_pixels"]


def pixel_format(number: int, field: str) -> PixelFormat:
    """The pixel format a request's `field` names; INVALID_ARGUMENT when it names none."""
    try:
        return PixelFormat.from_wire(number, field)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


@dataclass(frozen=True)
class FrameLimits:
    """What one frame may be. The default admits a Quest 3 stereo frame (2 x 2064x2208 RGBA8)."""

    max_frame_bytes: int = 2 * 2064 * 2208 * 4
    max_dimension: int = 8192
    max_views: int = 2

    def transport_message_bytes(self) -> int:
        """gRPC message-size limit: one maximal frame plus room for the protobuf framing, so a
        frame just over the limit still arrives and gets our own, clearer refusal."""
        return self.max_frame_bytes + max(self.max_frame_bytes // 8, 1 << 20)


@dataclass(frozen=True)
class View:
    """One image of a frame: `pixels` is (H, W, bpp) uint8, possibly a strided view of the
    client's buffer (read-only); `linear` says its colour space is linear rather than sRGB."""

    pixels: np.ndarray
    format: PixelFormat
    linear: bool

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


def check_size(width: int, height: int, field: str, limits: FrameLimits) -> None:
    """A view's width and height: positive, and within this server's `max_dimension`."""
    for name, value in (("width", width), ("height", height)):
        if value <= 0:
            raise InvalidArgument(f"{field}.{name} = {value}: expected a positive number of pixels")
        if value > limits.max_dimension:
            raise ResourceExhausted(
                f"{field}.{name} = {value} exceeds this server's limit of "
                f"{limits.max_dimension} pixels"
            )


def view_pixels(
    buffer: bytes | memoryview,
    width: int,
    height: int,
    fmt: PixelFormat,
    row_stride: int,
    field: str,
    limits: FrameLimits,
) -> np.ndarray:
    """Check a view's geometry against its bytes and return an (H, W, bpp) view of them."""
    check_size(width, height, field, limits)
    packed = width * fmt.bpp
    stride = row_stride or packed
    if stride < packed:
        raise InvalidArgument(
            f"{field}.row_stride = {row_stride}: expected 0 (packed) or at least "
            f"width * {fmt.bpp} = {packed} bytes for {fmt.name}"
        )
    size = len(buffer)
    # The last row may stop at its last pixel: engines' readback buffers often do.
    least, full = stride * (height - 1) + packed, stride * height
    if size not in (least, full):
        expected = f"{full}" if least == full else f"{least} or {full}"
        raise InvalidArgument(
            f"{field}.data has {size} bytes: expected {expected} for {width}x{height} {fmt.name} "
            f"with row_stride {stride}"
        )
    px = rows_view(buffer, width, height, fmt.bpp, stride)
    px.flags.writeable = False
    return px
