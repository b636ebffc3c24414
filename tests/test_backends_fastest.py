"""The CPU default of `artem serve`: each available variant is timed once on a small frame at
start, the fastest becomes the server's default (logged with every candidate's time), an
explicit --backend is still honoured, and a style whose entry ships no graph runs on the
fastest variant that needs no export."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from conftest import add_generator_entry

from artem_server.backends import available_backends
from artem_server.backends.fastest import time_variants
from artem_server.pipeline import Pipeline
from artem_server.registry import Registry
from artem_server.runs import RunChoice, RunOptions, Runs

ARTEM = str(Path(sys.executable).with_name("artem"))
PICK = re.compile(r"fastest CPU variant: (\S+) (\S+) \(probe ms per \d+x\d+ frame: ([^;)]*)")


def test_fastest_times_the_cpu_variants_and_makes_the_quickest_the_default(caplog):
    cpu = torch.device("cpu")
    with caplog.at_level(logging.INFO, logger="artem_server.backends.fastest"):
        runs = Runs(Pipeline(cpu), RunOptions(backend="fastest"))
    line = next(r.getMessage() for r in caplog.records if "fastest CPU variant" in r.getMessage())
    assert line.startswith(f"fastest CPU variant: {runs.default.backend} {runs.default.precision} ")
    timed = [b for b in ("torch-eager", "onnxruntime") if b in available_backends(cpu)]
    assert all(b in line for b in timed)
    # The choice is a working default: sessions that name nothing get it.
    assert runs.choose() == runs.default


def test_a_style_without_a_shipped_graph_runs_on_the_fastest_variant_that_needs_none(
    tmp_path,
):
    cpu = torch.device("cpu")
    runs = Runs(Pipeline(cpu), RunOptions(backend="fastest"))
    runs.default = RunChoice("onnxruntime", "fp32")  # as when ONNX Runtime wins the probe
    runs.ready = RunChoice("torch-eager", "fp32")
    add_generator_entry(tmp_path, "plain", seed=1)
    registry = Registry(tmp_path)
    shipped, plain = registry.get("nocturne"), registry.get("plain")
    assert runs.choose(kind=shipped.kind, module=shipped.model) == runs.default
    assert runs.choose(kind=plain.kind, module=plain.model) == runs.ready
    # named explicitly, onnxruntime is honoured (it exports)
    assert runs.choose("onnxruntime", kind=plain.kind, module=plain.model).backend == "onnxruntime"


def test_a_variant_that_cannot_run_is_left_out():
    times = time_variants(
        torch.device("cpu"),
        size=32,
        repeats=1,
        candidates=(("torch-eager", "fp32"), ("onnxruntime", "fp16")),
    )
    assert list(times) == [("torch-eager", "fp32")] and times[("torch-eager", "fp32")] > 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_run(address: str, style: str, backend: str = "") -> tuple[str, str]:
    """The (backend, precision) a server runs a style's session on, after one frame."""
    import grpc
    from artem_client.frames import encode_view
    from artem_protocol.rpc import pb_grpc

    view = np.full((32, 48, 4), 120, np.uint8)
    with grpc.insecure_channel(address) as channel:
        replies = list(
            pb_grpc.StylizerStub(channel).Stylize(
                iter(
                    [
                        pb.StylizeRequest(config=pb.SessionConfig(style=style, backend=backend)),
                        pb.StylizeRequest(frame=pb.Frame(id=1, views=[encode_view(view)])),
                    ]
                ),
                timeout=300,
            )
        )
    assert not replies[-1].HasField("error"), replies[-1].error
    return replies[0].session.backend, replies[0].session.precision


def test_artem_serve_logs_its_pick_and_serves_with_it(tmp_path):
    """`artem serve` on a CPU with no --backend: the log names the pick and each candidate's
    time; a built-in style's session runs on the pick; a session may still name a backend."""
    port = free_port()
    server = subprocess.Popen(
        [ARTEM, "serve", "--port", str(port), "--models-dir", str(tmp_path), "--device", "cpu"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with StylizerClient(f"127.0.0.1:{port}") as c:
            c.wait_ready(120)
        address = f"127.0.0.1:{port}"
        assert session_run(address, "nocturne", "torch-eager") == ("torch-eager", "fp32")
        got = session_run(address, "nocturne")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    m = PICK.search(output)
    assert m, output
    assert got == (m.group(1), m.group(2))
    timed = [b for b in ("torch-eager", "onnxruntime") if b in available_backends("cpu")]
    assert all(b in m.group(3) for b in timed)
    assert f"default backend {m.group(1)} {m.group(2)}" in output


def test_artem_serve_honours_an_explicit_backend(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [ARTEM, "serve", "--port", str(port), "--models-dir", str(tmp_path), "--device", "cpu"]
        + ["--backend", "torch-eager"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with StylizerClient(f"127.0.0.1:{port}") as c:
            c.wait_ready(120)
        got = session_run(f"127.0.0.1:{port}", "nocturne")
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert got == ("torch-eager", "fp32")
    assert "fastest CPU variant" not in output
