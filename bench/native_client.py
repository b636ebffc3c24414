#!/usr/bin/env python3
"""The native client core (engine_clients/native) beside the Python reference client, in one
run against one server: identity style, RGBA8 stereo, one frame in flight, shared memory and inline.

    cmake -S engine_clients/native -B build/native && cmake --build build/native -j
    .venv/bin/python bench/native_client.py --native-build build/native
    .venv/bin/python bench/native_client.py --native-build build/native --sizes 256,quest2
    --repeats 5

Both clients copy the frame into each request (the native tool into its slot, as an engine's
readback would; the Python client's `stream`, the `copy` rows of bench/transport.py), and the
Python client's `stream_into` row (the frame drawn once into each reused request buffer) is
shown beside them. Rows run in turn, `repeats` times, so a busy machine's slow spells hit every
row alike; each row reports its median, the ratio is the median of the per-repeat ratios.
Benchmarks print; they never assert.

`--tls` measures what TLS and the bearer token cost the native client instead: two servers of
the same configuration, one plaintext and one started with `--tls-cert/--tls-key --token-file`
(a self-signed certificate made for the run, which the native tool trusts as its CA), the
native tool against each in turn, inline and JPEG.

    .venv/bin/python bench/native_client.py --native-build build/native --tls
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transport as tb  # noqa: E402  (bench/transport.py: the server spawn and the Python client rows)

SIZES = {
    "256": (256, 256),
    "vive": (1080, 1200),
    "quest2": (1832, 1920),
}  # per eye; frames are stereo


def native_row(
    build: Path,
    address: str,
    transport: str,
    size: str,
    frames: int,
    warmup: int,
    security: list[str] = (),
) -> float:
    w, h = SIZES[size]
    args = [
        str(build / "artem_native_roundtrip"),
        "--server",
        address,
        "--transport",
        transport,
        "--size",
        f"{w}x{h}",
        "--stereo",
        "--frames",
        str(frames),
        "--warmup",
        str(warmup),
        *security,
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr}")
    return float(re.search(r"([\d.]+) fps", done.stdout).group(1))


def python_row(address: str, transport: str, size: str, frames: int, warmup: int) -> float:
    w, h = SIZES[size]
    eyes = tb.stereo_frame(w, h)
    stamps, _, _ = tb.bench_artem(address, transport, eyes, frames, warmup, 90)
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 signed by its own key (PEM files)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "artem bench")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem"


def tls_cost(args: argparse.Namespace, models: str) -> None:
    """The native tool against a plaintext server and a TLS + token one, rows interleaved."""
    with tempfile.TemporaryDirectory() as secrets:
        cert, key = self_signed(Path(secrets))
        token = "bench-T0ken-" + os.urandom(8).hex()
        (Path(secrets) / "token").write_text(token)
        plain, plain_address = tb.spawn_artem(models)
        tls, tls_address = tb.spawn_artem(
            models,
            *("--tls-cert", str(cert), "--tls-key", str(key)),
            *("--token-file", str(Path(secrets) / "token")),
        )
        security = ["--token", token, "--tls-ca", str(cert)]
        try:
            print(
                f"identity style, RGBA8 stereo, one frame in flight, {os.cpu_count()} CPUs, load "
                f"average {os.getloadavg()[0]:.1f}; native fps, medians of {args.repeats} "
                f"interleaved repeats"
            )
            print(
                f"{'size':<8} {'transport':<9} {'plaintext':>10} {'TLS+token':>10} "
                f"{'TLS / plain':>12}"
            )
            for size in args.sizes.split(","):
                for transport in ("inline", "jpeg"):
                    runs = []
                    for _ in range(args.repeats):
                        a = native_row(
                            args.native_build,
                            plain_address,
                            transport,
                            size,
                            args.frames,
                            args.warmup,
                        )
                        b = native_row(
                            args.native_build,
                            tls_address,
                            transport,
                            size,
                            args.frames,
                            args.warmup,
                            security,
                        )
                        runs.append((a, b))
                    a, b = (float(np.median(col)) for col in zip(*runs))
                    ratio = float(np.median([r[1] / r[0] for r in runs]))
                    print(f"{size:<8} {transport:<9} {a:10.1f} {b:10.1f} {ratio:12.2f}", flush=True)
        finally:
            for server in (plain, tls):
                server.terminate()
                server.wait(30)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--native-build", type=Path, required=True, help="a CMake build of engine_clients/native"
    )
    p.add_argument("--sizes", default="256,quest2", help=f"comma-separated, of {', '.join(SIZES)}")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5, help="round trips before measuring")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tls", action="store_true", help="native plaintext vs TLS + token instead")
    args = p.parse_args(argv)
    from artem_server.transport.alloc import apply_frame_tunables, keep_frame_buffers

    if argv is None:
        apply_frame_tunables()  # as `artem serve` does: the server and the native tool inherit it
    keep_frame_buffers()
    with tempfile.TemporaryDirectory() as models:
        if args.tls:
            tls_cost(args, models)
            return
        server, address = tb.spawn_artem(models)
        try:
            print(
                f"identity style, RGBA8 stereo, one frame in flight, {os.cpu_count()} CPUs, load "
                f"average "
                f"{os.getloadavg()[0]:.1f}; fps, medians of {args.repeats} interleaved repeats"
            )
            print(
                f"{'size':<8} {'transport':<9} {'native':>8} {'python copy':>12} "
                f"{'python drawn':>13} "
                f"{'native / python copy':>21} {'native / python drawn':>22}"
            )
            for size in args.sizes.split(","):
                for transport in ("shm", "inline"):
                    runs = []
                    for _ in range(args.repeats):
                        runs.append(
                            (
                                native_row(
                                    args.native_build,
                                    address,
                                    transport,
                                    size,
                                    args.frames,
                                    args.warmup,
                                ),
                                python_row(
                                    address, f"{transport} copy", size, args.frames, args.warmup
                                ),
                                python_row(address, transport, size, args.frames, args.warmup),
                            )
                        )
                    n, c, d = (float(np.median(col)) for col in zip(*runs))
                    vs_copy = float(np.median([r[0] / r[1] for r in runs]))
                    vs_drawn = float(np.median([r[0] / r[2] for r in runs]))
                    print(
                        f"{size:<8} {transport:<9} {n:8.1f} {c:12.1f} {d:13.1f} {vs_copy:21.2f} "
                        f"{vs_drawn:22.2f}",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
