"""`artem client`: stream a source through a server, save what comes back, report speed.

The command, not the client library: it reads the sources (artem_server.sources: photographs,
videos, a camera, the screen) with the server's dependencies, then streams them with
artem_client, which needs none of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from artem_client import StylizerClient
from artem_client.connect import ClientSecurity
from artem_client.frames import FORMAT_NAMES, to_rgb
from PIL import Image

from .sources import capture, scenes
from .transport.alloc import keep_frame_buffers


def run_client(
    server: str,
    style: str,
    source: str = "synthetic",
    frames: int | None = None,
    size: tuple[int, int] | None = None,
    stereo: bool = False,
    out: Path | None = None,
    strength: float | None = None,
    pixel_format: str = "rgba8",
    max_in_flight: int = 1,
    transport: str = "inline",
    jpeg_quality: int | None = None,
    security: ClientSecurity | None = None,
    mix: dict[str, float] | None = None,
    preserve_color: bool = False,
):
    """Stream, save replies as `<out>/frame_00000[_left|_right].png`, print and return the stats."""
    keep_frame_buffers()  # this process streams frame-sized buffers (transport/alloc.py)
    fmt = FORMAT_NAMES[pixel_format]
    kind, _, arg = source.partition(":")
    if source == "synthetic":
        w, h = size or (256, 256)
        frame_iter = scenes.synthetic(frames or 60, w, h, stereo)
    elif kind == "webcam":
        frame_iter = capture.webcam(arg or None, frames, size, stereo)
    elif kind == "screen":
        frame_iter = capture.screen(arg or None, frames, size, stereo)
    else:
        frame_iter = scenes.from_path(Path(source), frames, size, stereo)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    def save(index: int, images: list[np.ndarray]) -> None:
        names = ["left", "right"] if len(images) == 2 else [""]
        for img, eye in zip(images, names):
            rgb = to_rgb(img, fmt)
            Image.fromarray(np.ascontiguousarray(rgb)).save(
                out / f"frame_{index:05d}{'_' + eye if eye else ''}.png"
            )

    with StylizerClient(server, security) as client:
        client.wait_ready(timeout=30)
        stats = client.stream(
            frame_iter,
            style,
            strength=strength,
            fmt=fmt,
            max_in_flight=max_in_flight,
            on_images=save if out is not None else None,
            transport=transport,
            jpeg_quality=jpeg_quality,
            mix=mix,
            preserve_color=preserve_color,
        )
    what = "mix " + ",".join(f"{k}={w:g}" for k, w in mix.items()) if mix else f"style {style!r}"
    print(f"artem client: {what}, transport {transport}, {stats.summary()}")
    if out is not None:
        print(f"artem client: stylized frames written to {out}/")
    return stats
