"""The server's JPEG codec: the protocol's (artem_protocol.jpeg, Pillow on the CPU), or nvJPEG
through torchvision on a CUDA server that has it; a view that does not decode is the client's
fault (INVALID_ARGUMENT naming its field)."""

from __future__ import annotations

import numpy as np
import torch
from artem_protocol import jpeg

from ..errors import InvalidArgument

DEFAULT_QUALITY = jpeg.DEFAULT_QUALITY


def _nvjpeg():
    """torchvision.io when it can code JPEG on CUDA (nvJPEG), else None."""
    try:
        from torchvision import io as tvio
    except ImportError:
        return None
    return tvio if hasattr(tvio, "encode_jpeg") and hasattr(tvio, "decode_jpeg") else None


class JpegCodec(jpeg.JpegCodec):
    """Decodes client JPEG views and encodes reply views, on `device` where nvJPEG is available."""

    def __init__(self, device: torch.device = torch.device("cpu"), threads: int = 2) -> None:
        super().__init__(threads)
        self._tvio = _nvjpeg() if device.type == "cuda" else None
        self.device = device
        if self._tvio is not None:
            self.name = "nvjpeg"

    def decode(self, data: bytes | memoryview, width: int, height: int, field: str) -> np.ndarray:
        """A view's JPEG -> (height, width, 3) uint8 RGB; refuses other sizes before decoding."""
        if self._tvio is not None:
            return self._decode_gpu(data, width, height, field)
        try:
            return super().decode(data, width, height, field)
        except ValueError as e:
            raise InvalidArgument(str(e)) from None

    def encode(self, rgb: np.ndarray, quality: int) -> bytes:
        """(H, W, 3) uint8 RGB -> baseline JFIF bytes, 4:2:0 chroma (what every decoder reads)."""
        if self._tvio is None:
            return super().encode(rgb, quality)
        x = torch.from_numpy(np.ascontiguousarray(rgb)).to(self.device).permute(2, 0, 1)
        return self._tvio.encode_jpeg(x.contiguous(), quality=quality).cpu().numpy().tobytes()

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
