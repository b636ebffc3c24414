"""JPEG frames: the server's codec (artem_server.transport.jpeg) decoding a client's views and
encoding the reply's, nvJPEG on CUDA (torchvision) beside Pillow's libjpeg-turbo on the CPU, in
one run, on real photographs at a headset's frame size.

    python bench/jpeg_codec.py [--size quest2-stereo] [--quality 90] [--repeats 10] [--json PATH]

Rows: each codec the machine has (nvJPEG needs CUDA and torchvision built for the installed
torch); times are medians per frame (all views), decode and encode apart. Never asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from artem_server.benchmark.model_bench import photo_views
from artem_server.benchmark.sizes import parse_size
from artem_server.transport.jpeg import JpegCodec


def timed(fn, repeats: int, sync: bool) -> float:
    """Median ms of fn() after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="quest2-stereo")
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    size = parse_size(args.size)
    views = [np.ascontiguousarray(v[..., :3]) for v in photo_views(size)]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for device in devices:
        codec = JpegCodec(device)
        if device.type == "cuda" and codec.name != "nvjpeg":
            rows.append(
                {"codec": codec.name, "device": "cuda", "error": "no torchvision with nvJPEG here"}
            )
            continue
        blobs = codec.encode_many(views, args.quality)
        items = [
            (b, v.shape[1], v.shape[0], f"views[{i}]") for i, (b, v) in enumerate(zip(blobs, views))
        ]
        decoded = codec.decode_many(items)
        rows.append(
            {
                "codec": codec.name,
                "device": device.type,
                "encode_ms": timed(
                    lambda: codec.encode_many(views, args.quality),
                    args.repeats,
                    device.type == "cuda",
                ),
                "decode_ms": timed(
                    lambda: codec.decode_many(items), args.repeats, device.type == "cuda"
                ),
                "mib_per_frame": sum(len(b) for b in blobs) / 2**20,
                "max_abs_error": int(
                    max(np.abs(d.astype(int) - v).max() for d, v in zip(decoded, views))
                ),
            }
        )
    print(
        f"JPEG at {size.name} ({size.views} x {size.width}x{size.height} RGB), quality "
        f"{args.quality}, "
        f"median of {args.repeats}"
    )
    print("| codec | device | decode ms | encode ms | MiB a frame | max abs error |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| {r['codec']} | {r['device']} | {r['error']} | | | |")
        else:
            print(
                f"| {r['codec']} | {r['device']} | {r['decode_ms']:.2f} | {r['encode_ms']:.2f} | "
                f"{r['mib_per_frame']:.2f} | {r['max_abs_error']} |"
            )
    if args.json:
        args.json.write_text(
            json.dumps({"size": size.name, "quality": args.quality, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
