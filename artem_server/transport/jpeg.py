"""JPEG for frames that cross a network (a standalone headset on Wi-Fi), both directions.

A Quest 2 stereo RGBA frame is 27 MiB raw; at quality 90 it is ~1-2 MiB of JPEG. On a CUDA
server with torchvision, nvJPEG decodes and encodes on the GPU; otherwise Pillow's
libjpeg-turbo does on the CPU, one thread per view (it releases the GIL, so both eyes code at
once). Pixels: (H, W, 3) uint8 RGB, values as the client sent them (sRGB or linear).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from ..errors import InvalidArgument

DEFAULT_QUALITY = 90


def _nvjpeg():
    """torchvision.io when it can code JPEG on CUDA (nvJPEG), else None."""
    try:
        from torchvision import io as tvio
    except ImportError:
        return None
    return tvio if hasattr(tvio, "encode_jpeg") and hasattr(tvio, "decode_jpeg") else None


class JpegCodec:
    """Decodes client JPEG views and encodes reply views, on `device` where nvJPEG is available."""

    def __init__(self, device: torch.device = torch.device("cpu"), threads: int = 2) -> None:
        self._tvio = _nvjpeg() if device.type == "cuda" else None
        self.device = device
        self.name = "nvjpeg" if self._tvio is not None else "libjpeg-turbo (Pillow)"
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="artem-jpeg")

    def decode(self, data: bytes | memoryview, width: int, height: int, field: str) -> np.ndarray:
        """A view's JPEG -> (height, width, 3) uint8 RGB; refuses other sizes before decoding."""
        if self._tvio is not None:
            return self._decode_gpu(data, width, height, field)
        try:
            img = Image.open(io.BytesIO(data), formats=["JPEG"])
        except Exception as e:  # Pillow raises several kinds for garbage input
            raise InvalidArgument(
                f"{field}.jpeg is not a JPEG image ({type(e).__name__}: {e})"
            ) from None
        if img.size != (width, height):
            raise InvalidArgument(
                f"{field}.jpeg is {img.width}x{img.height}: expected {width}x{height} "
                f"(the view's width and height)"
            )
        try:
            return np.asarray(img.convert("RGB") if img.mode != "RGB" else img)
        except (OSError, SyntaxError) as e:
            raise InvalidArgument(f"{field}.jpeg is truncated or corrupt ({e})") from None

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        """(H, W, 3) uint8 RGB -> baseline JFIF bytes, 4:2:0 chroma (what every decoder reads)."""
        if self._tvio is not None:
            x = (
                torch.from_numpy(np.ascontiguousarray(rgb))
                .to(self.device)
                .permute(2, 0, 1)
                .contiguous()
            )
            return self._tvio.encode_jpeg(x, quality=quality).cpu().numpy().tobytes()
        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(out, "JPEG", quality=quality)
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

    def _decode_gpu(
        self, data: bytes | memoryview, width: int, height: int, field: str
    ) -> np.ndarray:
        raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        try:
            x = self._tvio.decode_jpeg(raw, mode=self._tvio.ImageReadMode.RGB, device=self.device)
        except RuntimeError as e:
            raise InvalidArgument(f"{field}.jpeg is not a decodable JPEG image ({e})") from None
        if tuple(x.shape[1:]) != (height, width):
            raise InvalidArgument(
                f"{field}.jpeg is {x.shape[2]}x{x.shape[1]}: expected {width}x{height}"
            )
        return x.permute(1, 2, 0).cpu().numpy()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
