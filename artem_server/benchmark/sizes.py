"""Frame sizes by name: the headsets ArtEm targets, per eye, and small ones for CPU runs.

A size is (views, width, height): stereo frames are two views, one per eye, run as one batch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FrameSize:
    name: str
    views: int
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.views * self.width * self.height

    def __str__(self) -> str:
        return f"{self.name} ({self.views}x{self.width}x{self.height})"


NAMED = {
    s.name: s
    for s in (
        FrameSize("vive-stereo", 2, 1080, 1200),
        FrameSize("index-stereo", 2, 1440, 1600),
        FrameSize("quest2-stereo", 2, 1832, 1920),
        FrameSize("quest3-stereo", 2, 2064, 2208),
        FrameSize("1080p", 1, 1920, 1080),
        FrameSize("small-stereo", 2, 256, 256),  # a CPU-sized stereo frame: ~0.2 s per eager pass
        FrameSize("tiny", 1, 64, 64),  # for tests
    )
}


def parse_size(text: str) -> FrameSize:
    """A named size, 'WxH' (one view) or 'WxH-stereo' (two views)."""
    if text in NAMED:
        return NAMED[text]
    body, stereo = (text[: -len("-stereo")], True) if text.endswith("-stereo") else (text, False)
    try:
        w, h = (int(v) for v in body.lower().split("x"))
    except ValueError:
        raise ValueError(
            f"size {text!r}: expected one of {', '.join(NAMED)}, WxH or WxH-stereo"
        ) from None
    if w <= 0 or h <= 0:
        raise ValueError(f"size {text!r}: width and height must be positive")
    return FrameSize(text, 2 if stereo else 1, w, h)
