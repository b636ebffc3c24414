"""numpy images <-> wire views. Images are (H, W, C) uint8 in the named pixel format."""

from __future__ import annotations

import numpy as np
from artem_protocol.pixels import PixelFormat, rows_view
from artem_protocol.rpc import pb

BYTES_PER_PIXEL = {f.wire: f.bpp for f in PixelFormat}  # wire enum number -> bytes per pixel
FORMAT_NAMES = {f.name.lower(): f.wire for f in PixelFormat}  # "rgba8" -> its wire number


def from_rgb(rgb: np.ndarray, fmt: int) -> np.ndarray:
    """(H, W, 3) RGB uint8 -> (H, W, bpp) in `fmt`, alpha a fixed gradient so tests can see
    that it passes through untouched."""
    h, w, _ = rgb.shape
    if fmt == pb.PIXEL_FORMAT_RGB8:
        return np.ascontiguousarray(rgb)
    alpha = (np.arange(w, dtype=np.uint16)[None, :] * 255 // max(w - 1, 1)).astype(np.uint8)
    alpha = np.broadcast_to(alpha, (h, w))
    color = rgb[..., ::-1] if fmt == pb.PIXEL_FORMAT_BGRA8 else rgb
    return np.ascontiguousarray(np.dstack([color, alpha]))


def to_rgb(img: np.ndarray, fmt: int) -> np.ndarray:
    """(H, W, bpp) in `fmt` -> (H, W, 3) RGB, for saving and comparing."""
    rgb = img[..., :3]
    return np.ascontiguousarray(rgb[..., ::-1] if fmt == pb.PIXEL_FORMAT_BGRA8 else rgb)


def encode_view(
    img: np.ndarray, fmt: int = pb.PIXEL_FORMAT_RGBA8, linear: bool = False, row_stride: int = 0
) -> pb.View:
    """A wire view of `img`; with `row_stride` > width * bpp the rows are padded as an engine's
    readback buffer may be."""
    h, w, bpp = img.shape
    if bpp != BYTES_PER_PIXEL[fmt]:
        raise ValueError(
            f"image has {bpp} channels, format {pb.PixelFormat.Name(fmt)} has "
            f"{BYTES_PER_PIXEL[fmt]}"
        )
    if row_stride and row_stride > w * bpp:
        padded = np.zeros((h, row_stride), dtype=np.uint8)
        padded[:, : w * bpp] = img.reshape(h, w * bpp)
        data = padded.tobytes()
    else:
        data = np.ascontiguousarray(img).tobytes()
    color = pb.COLOR_SPACE_LINEAR if linear else pb.COLOR_SPACE_SRGB
    return pb.View(
        width=w, height=h, format=fmt, color_space=color, row_stride=row_stride, data=data
    )


def decode_view(view: pb.View) -> np.ndarray:
    """(H, W, bpp) uint8 copy of a reply's view."""
    bpp = BYTES_PER_PIXEL[view.format]
    return rows_view(view.data, view.width, view.height, bpp, view.row_stride).copy()
