"""`artem client`: stream a source through a server, save what comes back, report speed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from artem_server.rpc import pb

from . import scenes
from .client import StylizerClient
from .frames import FORMAT_NAMES, decode_view, to_rgb


def run_client(server: str, style: str, source: str = "synthetic", frames: int | None = None,
               size: tuple[int, int] | None = None, stereo: bool = False, out: Path | None = None,
               strength: float | None = None, pixel_format: str = "rgba8", max_in_flight: int = 1):
    """Stream, save replies as `<out>/frame_00000[_left|_right].png`, print and return the stats."""
    fmt = FORMAT_NAMES[pixel_format]
    if source == "synthetic":
        w, h = size or (256, 256)
        frame_iter = scenes.synthetic(frames or 60, w, h, stereo)
    else:
        frame_iter = scenes.from_path(Path(source), frames, size, stereo)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)

    def save(index: int, reply: pb.StylizedFrame) -> None:
        if out is None:
            return
        names = ["left", "right"] if len(reply.views) == 2 else [""]
        for view, eye in zip(reply.views, names):
            rgb = to_rgb(decode_view(view), view.format)
            Image.fromarray(np.ascontiguousarray(rgb)).save(out / f"frame_{index:05d}{'_' + eye if eye else ''}.png")

    with StylizerClient(server) as client:
        client.wait_ready(timeout=30)
        stats = client.stream(frame_iter, style, strength=strength, fmt=fmt,
                              max_in_flight=max_in_flight, on_frame=save)
    print(f"artem client: style {style!r}, {stats.summary()}")
    if out is not None:
        print(f"artem client: stylized frames written to {out}/")
    return stats
