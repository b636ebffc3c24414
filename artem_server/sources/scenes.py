"""Frame sources for the client: a built-in moving scene, an image, a folder, a video.

Each source yields frames as lists of (H, W, 3) RGB uint8 arrays: one view (mono) or two
(left eye, right eye).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_rgb


def _panorama(height: int) -> np.ndarray:
    """scikit-image's bundled photographs side by side, `height` pixels tall."""
    from skimage import data

    tiles = []
    for photo in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket()):
        img = Image.fromarray(photo)
        tiles.append(
            np.asarray(
                img.resize(
                    (round(img.width * height / img.height), height), Image.Resampling.BICUBIC
                )
            )
        )
    return np.concatenate(tiles, axis=1)


def synthetic(
    frames: int, width: int, height: int, stereo: bool = False
) -> Iterator[list[np.ndarray]]:
    """A camera panning across a strip of photographs; the right eye sees the scene shifted by
    a small disparity, as a stereo rig would."""
    strip = _panorama(height)
    disparity = max(width // 64, 2) if stereo else 0
    travel = strip.shape[1] - width - disparity
    if travel <= 0:
        strip = np.concatenate(
            [strip] * (-(-(width + disparity + 1) // strip.shape[1]) + 1), axis=1
        )
        travel = strip.shape[1] - width - disparity
    for i in range(frames):
        x = int(round(travel * (i / max(frames - 1, 1))))
        left = np.ascontiguousarray(strip[:, x : x + width])
        if stereo:
            yield [left, np.ascontiguousarray(strip[:, x + disparity : x + disparity + width])]
        else:
            yield [left]


def _fit(img: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    if size is None or (img.shape[1], img.shape[0]) == size:
        return img
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BICUBIC))


def from_path(
    path: Path, frames: int | None, size: tuple[int, int] | None, stereo: bool = False
) -> Iterator[list[np.ndarray]]:
    """Frames from an image (repeated), a folder of images (in name order, cycled) or a video."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(
                f"--source {path}: the folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        images = (read_rgb(files[i % len(files)]) for i in range(frames or len(files)))
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        images = _video_frames(path, frames)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        img = read_rgb(path)
        images = (img for _ in range(frames or 1))
    else:
        raise ValueError(
            f"--source {path}: expected an image, a folder of images, a video or 'synthetic'"
        )
    for img in images:
        img = _fit(img, size)
        yield [img, img] if stereo else [img]


def _video_frames(path: Path, limit: int | None) -> Iterator[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if limit is not None and i >= limit:
                return
            yield frame.to_ndarray(format="rgb24")
