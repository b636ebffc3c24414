"""Live frame sources for `artem client`: a camera and the screen.

`--source webcam[:DEVICE]` reads a camera through PyAV (FFmpeg's v4l2 input on Linux,
avfoundation on macOS, dshow on Windows); `--source screen[:X,Y,W,H]` grabs the screen (or a
region of it) with Pillow's ImageGrab. Both open their device before the client connects, so a
missing camera or display is a clear error, not a half-started stream.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import numpy as np
from PIL import Image

Frames = Iterator[list[np.ndarray]]


def _fit(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (img.shape[1], img.shape[0]) == size:
        return img
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))


def _camera_input(device: str | None) -> tuple[str, str]:
    """(FFmpeg input format, device name) for this platform."""
    if sys.platform == "darwin":
        return "avfoundation", device or "0"
    if sys.platform == "win32":
        return "dshow", device or "video=Integrated Camera"
    return "v4l2", device or "/dev/video0"


def webcam(
    device: str | None, frames: int | None, size: tuple[int, int] | None, stereo: bool = False
) -> Frames:
    """Frames from a camera (the same image to both eyes with `stereo`); `frames` None: until
    interrupted. Raises ValueError naming the device when it cannot be opened."""
    import av

    fmt, name = _camera_input(device)
    if fmt == "v4l2" and not os.path.exists(name):
        raise ValueError(
            f"--source webcam: no camera at {name} (no video device on this machine?); "
            "name another with --source webcam:/dev/videoN"
        )
    try:
        container = av.open(name, format=fmt)
    except (av.error.FFmpegError, OSError) as e:
        raise ValueError(f"--source webcam: cannot open camera {name!r} ({fmt}): {e}") from None
    return _camera_frames(container, frames, size, stereo)


def _camera_frames(
    container, frames: int | None, size: tuple[int, int] | None, stereo: bool
) -> Frames:
    with container:
        for i, frame in enumerate(container.decode(video=0)):
            if frames is not None and i >= frames:
                return
            img = _fit(frame.to_ndarray(format="rgb24"), size)
            yield [img, img] if stereo else [img]


def parse_region(text: str) -> tuple[int, int, int, int]:
    """'X,Y,W,H' -> the (left, top, right, bottom) box ImageGrab takes."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(
            f"--source screen:{text}: expected screen:X,Y,W,H in pixels, e.g. screen:0,0,1280,720"
        ) from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"--source screen:{text}: X and Y must be >= 0, W and H > 0")
    return x, y, x + w, y + h


def screen(
    region: str | None, frames: int | None, size: tuple[int, int] | None, stereo: bool = False
) -> Frames:
    """Grabs of the screen (or `region`, 'X,Y,W,H'). Raises ValueError when there is no
    display to grab."""
    box = parse_region(region) if region else None
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if sys.platform.startswith("linux") and not display:
        raise ValueError(
            "--source screen: no display to capture (DISPLAY and WAYLAND_DISPLAY are not set)"
        )
    from PIL import ImageGrab

    try:
        first = ImageGrab.grab(bbox=box)
    except OSError as e:
        raise ValueError(f"--source screen: cannot grab the screen: {e}") from None
    return _screen_frames(first, box, frames, size, stereo)


def _screen_frames(
    first: Image.Image, box, frames: int | None, size: tuple[int, int] | None, stereo: bool
) -> Frames:
    from PIL import ImageGrab

    grab, i = first, 0
    while frames is None or i < frames:
        img = _fit(np.asarray(grab.convert("RGB")), size)
        yield [img, img] if stereo else [img]
        i += 1
        grab = ImageGrab.grab(bbox=box)
