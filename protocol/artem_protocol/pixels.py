"""Pixel formats and views of pixel rows, as both ends of a Stylize stream read them.

A view's pixels are `height` rows of `row_stride` bytes (0: packed, width * bytes per pixel);
the last row may stop at its last pixel, as engines' readback buffers often do. They are read
as an (H, W, bpp) uint8 numpy array over the same buffer, never copied.
"""

from __future__ import annotations

import enum

import numpy as np

from .rpc import pb


class PixelFormat(enum.Enum):
    # value: (wire enum number, bytes per pixel, index of R, G, B in a pixel, index of alpha)
    RGBA8 = (pb.PIXEL_FORMAT_RGBA8, 4, (0, 1, 2), 3)
    BGRA8 = (pb.PIXEL_FORMAT_BGRA8, 4, (2, 1, 0), 3)
    RGB8 = (pb.PIXEL_FORMAT_RGB8, 3, (0, 1, 2), None)

    @property
    def wire(self) -> int:
        return self.value[0]

    @property
    def bpp(self) -> int:
        return self.value[1]

    @property
    def rgb_order(self) -> tuple[int, int, int]:
        return self.value[2]

    @property
    def alpha_index(self) -> int | None:
        return self.value[3]

    @classmethod
    def from_wire(cls, number: int, field: str = "format") -> PixelFormat:
        """The format a View's `format` number names; ValueError naming `field` otherwise."""
        for f in cls:
            if f.wire == number:
                return f
        raise ValueError(
            f"{field} = {number} is not a known pixel format: expected one of "
            + ", ".join(f"{f.wire} ({f.name})" for f in cls)
        )


def row_bytes(width: int, height: int, bpp: int, row_stride: int = 0) -> int:
    """The bytes a view's rows span, the last row ending at its last pixel."""
    return (row_stride or width * bpp) * (height - 1) + width * bpp


def rows_view(
    buffer: bytes | bytearray | memoryview,
    width: int,
    height: int,
    bpp: int,
    row_stride: int = 0,
    offset: int = 0,
) -> np.ndarray:
    """An (H, W, bpp) uint8 view of the rows at `offset` in `buffer` (a message's bytes, a
    mapped region): no copy, writable when the buffer is. The caller has checked that they fit."""
    stride = row_stride or width * bpp
    flat = np.frombuffer(
        buffer, dtype=np.uint8, count=row_bytes(width, height, bpp, stride), offset=offset
    )
    return np.lib.stride_tricks.as_strided(
        flat, shape=(height, width, bpp), strides=(stride, bpp, 1)
    )
