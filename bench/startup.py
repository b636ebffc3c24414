"""Start-up: seconds from launching `artem serve` (every built-in style, the given warm sizes)
to health SERVING, then each style's first and second frame at the first warm size over
shared memory: a first frame as fast as the second shows the warm-up covered it.

    python bench/startup.py --device cuda --warm-size quest2-stereo --warm-size vive-stereo \
        [--limit 120] [--json PATH] [--log PATH]
    python bench/startup.py --device cpu --warm-size tiny        (a dry run on any machine)

The server is the real CLI in a subprocess, on 127.0.0.1, with an empty models directory (the
built-in styles only). Prints a table; never asserts (the tests do).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from artem_client import StylizerClient

from artem_server.benchmark.model_bench import photo_views
from artem_server.benchmark.sizes import parse_size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_frames(
    client: StylizerClient, style: str, views: list, transport: str
) -> tuple[float, float]:
    """Latency (ms) of a style's first and second frame, one in flight."""
    stats = client.stream(
        ([v for v in views] for _ in range(2)), style, max_in_flight=1, transport=transport
    )
    return stats.latencies_ms[0], stats.latencies_ms[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--warm-size", action="append", required=True)
    ap.add_argument("--limit", type=float, default=120.0, help="seconds to wait for SERVING")
    ap.add_argument("--transport", default="shm", choices=["shm", "inline"])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--log", type=Path, help="the server's log (default: a temporary file)")
    args = ap.parse_args()
    size = parse_size(args.warm_size[0])
    port = free_port()
    result: dict = {"device": args.device, "warm_sizes": args.warm_size, "limit_s": args.limit}
    with tempfile.TemporaryDirectory() as models:
        log_path = args.log or Path(models) / "serve.log"
        cmd = [
            sys.executable,
            "-m",
            "artem_server.cli",
            "--log-level",
            "INFO",
            "serve",
            "--device",
            args.device,
            "--port",
            str(port),
            "--models-dir",
            models,
        ]
        for s in args.warm_size:
            cmd += ["--warm-size", s]
        with open(log_path, "w") as log:
            started = time.perf_counter()
            server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
            try:
                with StylizerClient(f"127.0.0.1:{port}") as client:
                    try:
                        client.wait_ready(args.limit)
                        result["serving_s"] = time.perf_counter() - started
                    except TimeoutError:
                        result["serving_s"] = None
                    if result["serving_s"] is not None:
                        views = photo_views(size)
                        rows = []
                        for style in client.list_styles():
                            if style.id == "identity":  # runs no model
                                continue
                            first, second = first_frames(client, style.id, views, args.transport)
                            rows.append(
                                {
                                    "style": style.id,
                                    "kind": style.kind,
                                    "first_ms": first,
                                    "second_ms": second,
                                }
                            )
                        result["frames"] = rows
            finally:
                server.terminate()
                server.wait(30)
        result["log_tail"] = log_path.read_text().splitlines()[-15:]
    serving = result["serving_s"]
    print(
        f"artem serve --device {args.device} "
        + " ".join(f"--warm-size {s}" for s in args.warm_size)
    )
    print(
        f"SERVING after {serving:.1f} s"
        if serving is not None
        else f"not SERVING within {args.limit:.0f} s"
    )
    if result.get("frames"):
        print(
            f"\n| style | kind | first frame ms | second frame ms |  ({size.name}, "
            f"{args.transport})"
        )
        print("| --- | --- | --- | --- |")
        for r in result["frames"]:
            print(f"| {r['style']} | {r['kind']} | {r['first_ms']:.1f} | {r['second_ms']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if serving is None:
        print("server log tail:\n" + "\n".join(result["log_tail"]))


if __name__ == "__main__":
    main()
