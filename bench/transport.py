#!/usr/bin/env python3
"""End-to-end transport benchmark: identity style, one frame in flight, round trips per second
and latency for inline bytes, shared memory and JPEG, beside a raw-bytes gRPC echo.

    .venv/bin/python bench/transport.py                      # Vive and Quest 2 stereo RGBA
    .venv/bin/python bench/transport.py --sizes quest2 --frames 200 --json out.json
    .venv/bin/python bench/transport.py --transports "inline,inline copy"

The ArtEm server and the echo server each run in their own process, as `artem serve` would;
the client (artem_client.StylizerClient, the reference client) runs here. On a 2-core machine
client and server share the cores, so these are what one host with both sides can do.

The echo is the ceiling for inline transport: a generic grpc.aio handler with identity
(de)serializers that sends each request's bytes back (no protobuf, no pipeline), driven like
the client drives ArtEm (sync stub, request generator, one frame in flight). Its client sends
one prepared bytes object, so it pays nothing to produce a frame, and neither do ArtEm's rows:
their still frame is drawn once into each request buffer, which the client reuses once gRPC
has sent it (`StylizerClient.stream_into`; an engine renders into it). The ` copy` rows copy
the frame into every request instead (`StylizerClient.stream`, a client of numpy frames), as
the `echo+copy` row's client copies it into every payload. Every process here (ArtEm server,
echo server, this client) keeps freed frame-sized buffers and runs with the same glibc
tunables (artem_server/transport/alloc.py), so neither side pays page faults or cache traffic
the other does not. Benchmarks print; they never assert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SIZES = {  # name: (width, height) per eye; every frame is stereo (two views)
    "vive": (1080, 1200),
    "quest2": (1832, 1920),
    "quest3": (2064, 2208),  # this server's largest frame by default
}
ECHO_METHOD = "/bench.Echo/Echo"
GRPC_OPTIONS = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]


# -- the raw-bytes echo server (its own process) ---------------------------------------------
async def _echo_server() -> None:
    import grpc

    async def echo(requests, context):
        async for data in requests:
            yield data

    server = grpc.aio.server(options=GRPC_OPTIONS)
    handler = grpc.stream_stream_rpc_method_handler(echo)  # no (de)serializers: bytes as they come
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


def _spawn(args: list[str], ready: str) -> tuple[subprocess.Popen, str]:
    """Start a server process and return it with the first stdout line that contains `ready`."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if ready in line:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, line
    raise RuntimeError(f"{args[:3]} exited before it was ready (status {proc.wait()})")


def spawn_artem(models: str, *extra: str) -> tuple[subprocess.Popen, str]:
    """`artem serve` on a free loopback port (CPU; `extra` flags added), and its address."""
    proc, line = _spawn(
        [sys.executable, "-m", "artem_server.cli", "--log-level", "WARNING", "serve"]
        + ["--port", "0", "--device", "cpu", "--models-dir", models, *extra],
        "serving on",
    )
    return proc, line.split("serving on ")[1].split()[0]


# -- measurement ------------------------------------------------------------------------------
def _summary(
    name: str,
    size: str,
    stamps: list[float],
    latencies_ms: list[float],
    frame_bytes: int,
    extra: dict | None = None,
) -> dict:
    wall = stamps[-1] - stamps[0]
    fps = (len(stamps) - 1) / wall if wall > 0 else float("nan")
    row = {
        "size": size,
        "transport": name,
        "frames": len(latencies_ms),
        "fps": fps,
        "p50_ms": float(np.percentile(latencies_ms, 50)),
        "p95_ms": float(np.percentile(latencies_ms, 95)),
        "mib_s_each_way": fps * frame_bytes / 2**20,
        "frame_bytes": frame_bytes,
    }
    row.update(extra or {})
    return row


def bench_echo(
    address: str, payload: Callable[[], bytes], frames: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Round trips of `payload()` through the echo, one in flight: (reply times, latencies ms)."""
    import grpc

    with grpc.insecure_channel(address, options=GRPC_OPTIONS) as channel:
        call = channel.stream_stream(ECHO_METHOD)
        go: queue.Queue = queue.Queue()
        sent: list[float] = []
        sizes = [payload()]

        def requests():
            for _ in range(warmup + frames):
                go.get()
                sent.append(time.perf_counter())
                yield payload()

        stamps, lat = [], []
        go.put(None)
        for i, reply in enumerate(call(requests())):
            now = time.perf_counter()
            assert len(reply) == len(sizes[0])
            if i >= warmup:
                stamps.append(now)
                lat.append((now - sent[i]) * 1e3)
            go.put(None)
    return stamps, lat


def still_renderer(eyes: list[np.ndarray], count: int) -> Callable[[int, list[np.ndarray]], bool]:
    """`count` frames of a still scene for StylizerClient.stream_into: the frame is drawn into
    each buffer the client gives once (buffers keep what was drawn into them), as the echo's
    client makes its payload once."""
    from artem_protocol.copy import copy_many

    drawn: set[int] = set()

    def render(index: int, targets: list[np.ndarray]) -> bool:
        where = targets[0].__array_interface__["data"][0]
        if where not in drawn:
            copy_many(list(zip(targets, eyes)))
            drawn.add(where)
        return index < count

    return render


def bench_artem(
    address: str,
    transport: str,
    eyes: list[np.ndarray],
    frames: int,
    warmup: int,
    jpeg_quality: int,
) -> tuple[list[float], list[float], dict]:
    """Identity-style round trips through ArtEm by `transport`, one frame in flight. The frame is
    drawn into its requests (`stream_into`), or with a " copy" suffix copied into each one
    (`stream`). Each reply's pixels are obtained as a client would (views for inline/shm,
    decoded for JPEG), and one row of them is checked against the frame's."""
    from artem_client import StylizerClient
    from artem_protocol.rpc import pb

    name, _, how = transport.partition(" ")
    stamps: list[float] = []
    row = eyes[1].shape[0] // 2

    def touch(index: int, images: list[np.ndarray]) -> None:
        if name != "jpeg" and not np.array_equal(
            images[1][row], eyes[1][row]
        ):  # reads a row, copies none
            raise AssertionError(f"{transport}: frame {index} came back with other pixels")

    def mark(index: int, reply) -> None:
        if index >= warmup:
            stamps.append(time.perf_counter())

    options = dict(
        fmt=pb.PIXEL_FORMAT_RGBA8,
        transport=name,
        jpeg_quality=jpeg_quality,
        on_images=touch,
        on_frame=mark,
    )
    with StylizerClient(address) as client:
        client.wait_ready(30)
        if how == "copy":
            stats = client.stream((eyes for _ in range(warmup + frames)), "identity", **options)
        else:
            stats = client.stream_into(
                still_renderer(eyes, warmup + frames),
                [e.shape[:2] for e in eyes],
                "identity",
                **options,
            )
    server = {
        "server_transfer_p50_ms": float(np.percentile(stats.server_transfer_ms[warmup:], 50)),
        "server_queue_p50_ms": float(np.percentile(stats.server_queue_ms[warmup:], 50)),
    }
    return stamps, stats.latencies_ms[warmup:], server


def stereo_frame(width: int, height: int) -> list[np.ndarray]:
    """A photographic stereo pair in RGBA8 (JPEG's size depends on content: no noise)."""
    from artem_client.frames import from_rgb
    from artem_protocol.rpc import pb

    from artem_server.sources import scenes

    left, right = next(scenes.synthetic(1, width, height, stereo=True))
    return [from_rgb(left, pb.PIXEL_FORMAT_RGBA8), from_rgb(right, pb.PIXEL_FORMAT_RGBA8)]


def run(
    sizes: list[str],
    transports: list[str],
    frames: int,
    warmup: int,
    jpeg_quality: int,
    repeats: int = 1,
) -> list[dict]:
    """Each size's rows, measured `repeats` times in turn (echo, echo+copy, each transport, then
    again) so that a busy machine's slow spells hit every row alike; each row reports the median
    of its repeats, and its ratio to the echo is the median of the per-repeat ratios."""
    rows = []
    echo_proc, line = _spawn([sys.executable, __file__, "--echo-server"], "")
    echo_address = f"127.0.0.1:{int(line)}"
    with tempfile.TemporaryDirectory() as models:
        artem_proc, artem_address = spawn_artem(models)
        try:
            for size in sizes:
                w, h = SIZES[size]
                eyes = stereo_frame(w, h)
                frame_bytes = sum(e.nbytes for e in eyes)
                payload = b"".join(memoryview(e).cast("B") for e in eyes)
                runs: dict[str, list[dict]] = {}
                for _ in range(repeats):
                    stamps, lat = bench_echo(echo_address, lambda: payload, frames, warmup)
                    runs.setdefault("raw echo", []).append(
                        _summary("raw echo", size, stamps, lat, frame_bytes)
                    )
                    # the same, but the client makes each payload from the frame's pixels, as any
                    # client sending new pixels must (one copy): what is left is the server's share
                    stamps, lat = bench_echo(
                        echo_address,
                        lambda: b"".join(memoryview(e).cast("B") for e in eyes),
                        frames,
                        warmup,
                    )
                    runs.setdefault("echo+copy", []).append(
                        _summary("echo+copy", size, stamps, lat, frame_bytes)
                    )
                    for t in transports:
                        n = (
                            frames if not t.startswith("jpeg") else max(frames // 4, 10)
                        )  # JPEG on 2 CPU cores is slow
                        stamps, lat, server = bench_artem(
                            artem_address, t, eyes, n, warmup, jpeg_quality
                        )
                        if t.startswith("jpeg"):
                            server["quality"] = jpeg_quality
                        runs.setdefault(t, []).append(
                            _summary(t, size, stamps, lat, frame_bytes, server)
                        )
                echo_fps = [r["fps"] for r in runs["raw echo"]]
                copy_fps = [r["fps"] for r in runs["echo+copy"]]
                for reps in runs.values():
                    row = {
                        k: (float(np.median([r[k] for r in reps])) if isinstance(v, float) else v)
                        for k, v in reps[0].items()
                    }
                    ratios = [r["fps"] / e for r, e in zip(reps, echo_fps)]
                    row["vs_echo"] = float(np.median(ratios))
                    row["vs_echo_range"] = [
                        float(min(ratios)),
                        float(max(ratios)),
                    ]  # the repeats' spread
                    row["vs_echo_copy"] = float(
                        np.median([r["fps"] / e for r, e in zip(reps, copy_fps)])
                    )
                    row["repeats"] = len(reps)
                    rows.append(row)
        finally:
            for p in (artem_proc, echo_proc):
                p.terminate()
                p.wait(30)
    return rows


def table(rows: list[dict]) -> str:
    head = (
        f"{'size':<22} {'transport':<12} {'fps':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'MiB/s each way':>15} "
        f"{'x echo fps':>10} {'(repeats)':>11} {'x echo+copy':>11} {'server transfer p50 ms':>22}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        w, h = SIZES[r["size"]]
        size = f"{r['size']} 2x{w}x{h}"
        tr = r.get("server_transfer_p50_ms")
        spread = "{:.2f}-{:.2f}".format(*r["vs_echo_range"])
        out.append(
            f"{size:<22} {r['transport']:<12} {r['fps']:7.1f} {r['p50_ms']:8.2f} "
            f"{r['p95_ms']:8.2f} "
            f"{r['mib_s_each_way']:15.0f} {r['vs_echo']:10.2f} {spread:>11} "
            f"{r['vs_echo_copy']:11.2f} "
            f"{'' if tr is None else f'{tr:.2f}':>22}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="vive,quest2", help=f"comma-separated, of {', '.join(SIZES)}")
    p.add_argument(
        "--transports",
        default="inline,inline copy,shm,shm copy,jpeg",
        help="comma-separated: inline, shm, jpeg (the frame drawn into its requests), each with a "
        "' copy' suffix (the frame copied into each request)",
    )
    p.add_argument(
        "--frames",
        type=int,
        default=60,
        help="measured round trips per row and repeat (JPEG: a quarter)",
    )
    p.add_argument("--warmup", type=int, default=10, help="round trips before measuring")
    p.add_argument(
        "--repeats", type=int, default=5, help="interleaved repeats of every row (medians reported)"
    )
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    p.add_argument("--echo-server", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from artem_server.transport.alloc import apply_frame_tunables, keep_frame_buffers

    if argv is None:
        apply_frame_tunables()  # as `artem serve` does; the servers started here inherit it
    keep_frame_buffers()  # as `artem serve` does: the echo server and this client, same allocator
    if args.echo_server:
        asyncio.run(_echo_server())
        return
    rows = run(
        args.sizes.split(","),
        args.transports.split(","),
        args.frames,
        args.warmup,
        args.jpeg_quality,
        args.repeats,
    )
    print(
        f"identity style, RGBA8 stereo, one frame in flight, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; JPEG quality {args.jpeg_quality}; medians of {args.repeats} "
        f"interleaved repeats"
    )
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
