#!/usr/bin/env python3
"""Soak: N reconnecting Stylize streams against one server for a configurable time, then the
figures: frames served, errors, drops, lost frames, reconnects, and the server's resident
memory at start, peak and end. A benchmark, not a test: it prints and never asserts.

    .venv/bin/python bench/soak.py --duration 60              # starts its own `artem serve` (CPU)
    .venv/bin/python bench/soak.py --server 127.0.0.1:50051 --metrics 127.0.0.1:9464 --style mosaic

Without --server it starts `artem serve` on a free loopback port with an empty models directory
and streams through the shipped `nocturne` style (one of the small painting styles), so it runs
anywhere. Memory is read
from /proc for a server it started, else from the server's metrics endpoint (--metrics).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from artem_client.load import run_load
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    models_dir: Path, device: str, max_streams: int
) -> tuple[subprocess.Popen, str, str]:
    port, metrics = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "artem_server.cli",
            "--log-level",
            "WARNING",
            "serve",
            "--port",
            str(port),
            "--models-dir",
            str(models_dir),
            "--device",
            device,
            "--metrics-port",
            str(metrics),
            "--max-streams",
            str(max_streams),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:  # the server prints this line once it serves
        if line.startswith("artem: serving on"):
            break
    else:
        raise SystemExit(f"artem serve exited with {proc.wait()}")
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
    return proc, f"127.0.0.1:{port}", f"127.0.0.1:{metrics}"


def scrape(metrics: str) -> dict[str, float]:
    """Unlabelled samples, and errors summed over codes, from a metrics endpoint."""
    text = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {"artem_errors_total": 0.0}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "artem_errors_total":
                out[s.name] += s.value
            elif not s.labels:
                out[s.name] = s.value
    return out


def rss(pid: int | None, metrics: str | None) -> float:
    """Resident bytes of the server: /proc for our own child, else process_resident_memory_bytes."""
    if pid is not None:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024.0
    return (
        scrape(metrics).get("process_resident_memory_bytes", float("nan"))
        if metrics
        else float("nan")
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--streams", type=int, default=8, help="concurrent streams (default 8)")
    p.add_argument("--size", default="64x64", help="frame WxH, RGBA8 (default 64x64)")
    p.add_argument(
        "--max-in-flight", type=int, default=2, help="frames in flight per stream (default 2)"
    )
    p.add_argument(
        "--server", default=None, help="HOST:PORT of a running server (default: start one)"
    )
    p.add_argument(
        "--metrics", default=None, help="HOST:PORT of its metrics endpoint (with --server)"
    )
    p.add_argument(
        "--style", default=None, help="style id (default nocturne on the server it starts)"
    )
    p.add_argument("--device", default="cpu", help="device of the server it starts (default cpu)")
    p.add_argument(
        "--sample", type=float, default=5.0, help="seconds between memory samples (default 5)"
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of the same load first, not counted: buffers and pools reach their size "
        "(default 5)",
    )
    args = p.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    proc, tmp = None, None
    if args.server is None:
        tmp = tempfile.TemporaryDirectory(prefix="artem-soak-")
        proc, address, metrics = start_server(Path(tmp.name), args.device, args.streams)
        style = args.style or "nocturne"
    else:
        address, metrics, style = args.server, args.metrics, args.style or "identity"
    pid = proc.pid if proc else None
    try:
        boot_rss = rss(pid, metrics)
        if args.warmup > 0:
            run_load(
                address,
                args.streams,
                args.warmup,
                style=style,
                size=(w, h),
                max_in_flight=args.max_in_flight,
                reconnect=True,
            )
            time.sleep(1.0)
        before = scrape(metrics) if metrics else {}
        start_rss = rss(pid, metrics)
        samples, done = [start_rss], threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not done.wait(args.sample):
                samples.append(rss(pid, metrics))
                print(
                    f"  t={time.monotonic() - t0:5.0f} s  server RSS {samples[-1] / 2**20:7.1f} "
                    f"MiB",
                    flush=True,
                )

        print(
            f"soak: {args.streams} streams x {args.duration:g} s of {w}x{h} RGBA8 frames, style "
            f"{style!r}, "
            f"server {address}",
            flush=True,
        )
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = run_load(
            address,
            args.streams,
            args.duration,
            style=style,
            size=(w, h),
            max_in_flight=args.max_in_flight,
            reconnect=True,
        )
        done.set()
        time.sleep(1.0)  # the streams' last replies and their closing
        end_rss = rss(pid, metrics)
        after = scrape(metrics) if metrics else {}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        if tmp is not None:
            tmp.cleanup()
    served = [s.received for s in result.streams]
    print(
        f"frames served: {result.total('received')} "
        f"({result.total('received') / result.wall_s:.1f}/s); "
        f"per stream min {min(served)} max {max(served)}"
    )
    print(
        f"frames sent: {result.total('sent')}; dropped (latest frame wins): "
        f"{result.total('dropped')}; "
        f"lost in broken streams: {result.total('lost')}; reconnects: {result.total('reconnects')}"
    )
    print(
        f"errors seen by clients: {len(result.errors)}"
        + (f" (first: {result.errors[0]})" if result.errors else "")
    )
    if before and after:
        d = {
            k: after.get(k, 0.0) - before.get(k, 0.0)
            for k in ("artem_frames_total", "artem_frames_dropped_total", "artem_errors_total")
        }
        print(
            f"server metrics over the run: frames {d['artem_frames_total']:.0f}, dropped "
            f"{d['artem_frames_dropped_total']:.0f}, errors {d['artem_errors_total']:.0f}"
        )
    print(
        f"server RSS: at boot {boot_rss / 2**20:.1f} MiB; after the warm-up (start) "
        f"{start_rss / 2**20:.1f} MiB, "
        f"peak {max(samples + [end_rss]) / 2**20:.1f} MiB, "
        f"end {end_rss / 2**20:.1f} MiB ({(end_rss - start_rss) / 2**20:+.1f} MiB)"
    )


if __name__ == "__main__":
    main()
