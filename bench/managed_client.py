#!/usr/bin/env python3
"""The Unity package's managed gRPC client (engine_clients/unity/Runtime/Managed, under Mono)
beside the native core's JPEG transport and the Python client's, in one run against one server:
identity style, stereo, one frame in flight, JPEG both ways at quality 90.

    .venv/bin/python bench/managed_client.py --sizes 256,quest2 --repeats 3
    .venv/bin/python bench/managed_client.py --native-build build/native   # adds the native row

What each row includes: the native core and the Python client encode the eyes to JPEG and decode
the replies themselves (libjpeg-turbo; Pillow's, two threads); the managed client does not code
JPEG at all (in Unity the engine's ImageConversion does), so its row sends eyes encoded once
beforehand and leaves replies undecoded: its transport share alone. The "codec ms" column is
what Pillow takes per frame here to encode both eyes and decode both replies, measured in the
same run, for reading the managed row against the others; "managed+codec" adds it to the managed
row's frame time (an estimate, not a measurement: in Unity the codec is the engine's). Rows run
in turn, `repeats` times; each reports its median. Needs Mono (mcs, mono). Benchmarks print; they
never assert.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native_client as nb  # noqa: E402  (bench/native_client.py: sizes, the native tool's row)
import transport as tb  # noqa: E402  (bench/transport.py: the server spawn and the Python rows)

ROOT = Path(__file__).resolve().parents[1]
UNITY = ROOT / "engine_clients" / "unity"
QUALITY = 90


def build_managed(folder: Path) -> Path:
    """Tests~/ManagedClient.cs with the package's engine-free runtime, compiled by mcs."""
    sources = [p for p in (UNITY / "Runtime").rglob("*.cs") if p.name != "ArtemStylizer.cs"]
    exe = folder / "ManagedClient.exe"
    subprocess.run(
        ["mcs", "-r:System.Core", f"-out:{exe}", *map(str, sources)]
        + [str(UNITY / "Tests~" / "ManagedClient.cs")],
        check=True,
        capture_output=True,
    )
    return exe


def jpeg(rgba: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(out, "JPEG", quality=QUALITY)
    return out.getvalue()


def managed_row(exe: Path, address: str, eyes: list[Path], size: str, frames: int, warmup: int):
    w, h = nb.SIZES[size]
    done = subprocess.run(
        ["mono", str(exe), "bench", address, *map(str, eyes), str(w), str(h), str(frames)]
        + [str(warmup)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    return float(re.search(r"managed ([\d.]+) fps", done.stdout).group(1))


def codec_ms(eyes: list[np.ndarray], codes: list[bytes], repeats: int = 5) -> float:
    """Pillow's time for one frame's JPEG work: both eyes encoded, both replies decoded (two
    threads, as the Python client's codec), median of `repeats`."""
    with ThreadPoolExecutor(2) as pool:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(jpeg, eyes))
            list(pool.map(lambda b: np.asarray(Image.open(io.BytesIO(b))), codes))
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--native-build", type=Path, help="a CMake build of engine_clients/native")
    p.add_argument(
        "--sizes", default="256,quest2", help=f"comma-separated, of {', '.join(nb.SIZES)}"
    )
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3, help="round trips before measuring")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exe = build_managed(folder)
        server, address = tb.spawn_artem(str(folder / "models"))
        try:
            print(
                f"identity style, stereo, JPEG q{QUALITY} both ways, one frame in flight, "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; fps, medians of "
                f"{args.repeats} interleaved repeats"
            )
            print(
                f"{'size':<8} {'managed':>8} {'native':>8} {'python':>8} {'codec ms':>9} "
                f"{'managed+codec':>14} "
                f"{'managed / native':>17} {'managed / python':>17}"
            )
            for size in args.sizes.split(","):
                w, h = nb.SIZES[size]
                eyes = tb.stereo_frame(w, h)
                codes = [jpeg(e) for e in eyes]
                files = []
                for i, code in enumerate(codes):
                    files.append(folder / f"{size}-{i}.jpg")
                    files[-1].write_bytes(code)
                runs = []
                for _ in range(args.repeats):
                    m = managed_row(exe, address, files, size, args.frames, args.warmup)
                    n = (
                        nb.native_row(
                            args.native_build, address, "jpeg", size, args.frames, args.warmup
                        )
                        if args.native_build
                        else float("nan")
                    )
                    stamps, _, _ = tb.bench_artem(
                        address, "jpeg", eyes, args.frames, args.warmup, QUALITY
                    )
                    runs.append((m, n, (len(stamps) - 1) / (stamps[-1] - stamps[0])))
                m, n, py = (float(np.median(col)) for col in zip(*runs))
                vs_native = float(np.median([r[0] / r[1] for r in runs]))
                vs_python = float(np.median([r[0] / r[2] for r in runs]))
                codec = codec_ms(eyes, codes)
                estimate = 1 / (1 / m + codec / 1000)
                print(
                    f"{size:<8} {m:8.1f} {n:8.1f} {py:8.1f} {codec:9.1f} {estimate:14.1f} "
                    f"{vs_native:17.2f} {vs_python:17.2f}",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
