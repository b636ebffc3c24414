"""JPEG views, for frames that cross a network (a standalone headset on Wi-Fi), both directions.

A Quest 2 stereo RGBA frame is 27 MiB raw; at quality 90 it is ~1-2 MiB of JPEG. Views are coded
as baseline JFIF with 4:2:0 chroma, which every decoder reads (the engines' too), by Pillow's
libjpeg-turbo, one thread per view (it releases the GIL, so both eyes code at once). Pixels:
(H, W, 3) uint8 RGB, values as the client sent them (sRGB or linear); alpha does not travel.
Pillow is this package's one optional dependency (`pip install 'artem-protocol[jpeg]'`): only
the jpeg transport needs it.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np

DEFAULT_QUALITY = 90


def _pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError(
            "JPEG views need Pillow: pip install 'artem-protocol[jpeg]' (or 'artem-client[jpeg]')"
        ) from None
    return Image


class JpegCodec:
    """Decodes and encodes views on the CPU; a view's faults are ValueErrors naming its field."""

    name = "libjpeg-turbo (Pillow)"

    def __init__(self, threads: int = 2) -> None:
        self._image = _pillow()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="artem-jpeg")

    def decode(self, data: bytes | memoryview, width: int, height: int, field: str) -> np.ndarray:
        """A view's JPEG -> (height, width, 3) uint8 RGB; refuses other sizes before decoding."""
        try:
            img = self._image.open(io.BytesIO(data), formats=["JPEG"])
        except Exception as e:  # Pillow raises several kinds for garbage input
            raise ValueError(
                f"{field}.jpeg is not a JPEG image ({type(e).__name__}: {e})"
            ) from None
        if img.size != (width, height):
            raise ValueError(
                f"{field}.jpeg is {img.width}x{img.height}: expected {width}x{height} "
                f"(the view's width and height)"
            )
        try:
            return np.asarray(img.convert("RGB") if img.mode != "RGB" else img)
        except (OSError, SyntaxError) as e:
            raise ValueError(f"{field}.jpeg is truncated or corrupt ({e})") from None

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        """(H, W, 3) uint8 RGB -> baseline JFIF bytes, 4:2:0 chroma (what every decoder reads)."""
        out = io.BytesIO()
        self._image.fromarray(np.ascontiguousarray(rgb), "RGB").save(out, "JPEG", quality=quality)
        return out.getvalue()

    def decode_many(
        self, items: list[tuple[bytes | memoryview, int, int, str]]
    ) -> list[np.ndarray]:
        if len(items) == 1:
            return [self.decode(*items[0])]
        return list(self._pool.map(lambda a: self.decode(*a), items))

    def encode_many(self, images: list[np.ndarray], quality: int) -> list[bytes]:
        if len(images) == 1:
            return [self.encode(images[0], quality)]
        return list(self._pool.map(lambda a: self.encode(a, quality), images))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
