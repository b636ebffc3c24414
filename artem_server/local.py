"""`artem stylize`: images and videos on this machine, no server, through the same pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from .frames import PixelFormat, View
from .media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_rgb
from .pipeline import Pipeline
from .registry import Style


def output_paths(inputs: list[Path], output: Path) -> list[Path]:
    """One input and an output with a file suffix: that file. Otherwise `output` is a folder
    and each result keeps its input's name (videos become .mp4)."""
    for p in inputs:
        if not p.is_file():
            raise FileNotFoundError(f"input {p} does not exist")
        if p.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
            raise ValueError(
                f"input {p}: expected an image ({', '.join(sorted(IMAGE_SUFFIXES))}) "
                f"or a video ({', '.join(sorted(VIDEO_SUFFIXES))})"
            )
    if len(inputs) == 1 and output.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        return [output]
    if output.suffix and not output.is_dir():
        raise ValueError(f"-o {output}: several inputs need an output folder, not a file")
    names = [
        p.with_suffix(".mp4").name if p.suffix.lower() in VIDEO_SUFFIXES else p.name for p in inputs
    ]
    if len(set(names)) != len(names):
        raise ValueError("inputs share a file name; stylize them into separate folders")
    return [output / n for n in names]


def stylize_array(
    pipeline: Pipeline, style: Style, rgb: np.ndarray, strength: float = 1.0
) -> np.ndarray:
    """(H, W, 3) RGB uint8 sRGB -> the same, stylized."""
    view = View(np.ascontiguousarray(rgb), PixelFormat.RGB8, linear=False)
    return pipeline.run(style.model, [view], strength)[0]


def stylize_image(
    pipeline: Pipeline, style: Style, src: Path, dst: Path, strength: float = 1.0
) -> None:
    rgb = read_rgb(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(stylize_array(pipeline, style, rgb, strength)).save(dst)


def stylize_video(
    pipeline: Pipeline, style: Style, src: Path, dst: Path, strength: float = 1.0
) -> int:
    """Frames in, frames out, at the source's frame rate; returns the number of frames."""
    import av

    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(src)) as inp, av.open(str(dst), mode="w") as out:
        stream_in = inp.streams.video[0]
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream_out = out.add_stream(codec, rate=stream_in.average_rate or 30)
        stream_out.width = stream_in.codec_context.width // 2 * 2  # yuv420p needs even sizes
        stream_out.height = stream_in.codec_context.height // 2 * 2
        stream_out.pix_fmt = "yuv420p"
        n = 0
        for frame in tqdm(
            inp.decode(stream_in), total=stream_in.frames or None, unit="frame", desc=src.name
        ):
            rgb = frame.to_ndarray(format="rgb24")[: stream_out.height, : stream_out.width]
            styled = stylize_array(pipeline, style, rgb, strength)
            for packet in stream_out.encode(av.VideoFrame.from_ndarray(styled, format="rgb24")):
                out.mux(packet)
            n += 1
        for packet in stream_out.encode():
            out.mux(packet)
    return n


def stylize_paths(
    pipeline: Pipeline, style: Style, inputs: list[Path], output: Path, strength: float = 1.0
) -> list[Path]:
    dsts = output_paths(inputs, output)
    images = [(s, d) for s, d in zip(inputs, dsts) if s.suffix.lower() in IMAGE_SUFFIXES]
    for src, dst in tqdm(images, unit="image", disable=len(images) < 2):
        stylize_image(pipeline, style, src, dst, strength)
    for src, dst in zip(inputs, dsts):
        if src.suffix.lower() in VIDEO_SUFFIXES:
            stylize_video(pipeline, style, src, dst, strength)
    return dsts
