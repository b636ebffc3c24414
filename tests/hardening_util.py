"""Helpers for the hardening tests: test-only models registered through the registry API,
reading a server's metrics and health, and waiting for a condition."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import torch
from artem_client.frames import encode_view
from artem_protocol.rpc import pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families


class BlockingModel(torch.nn.Module):
    """Returns its input, but only once `release` is set; `entered` is set when a frame is in
    the model. Stands for a frame that is still on the GPU."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(30), "the test never released the model"
        return x


class OomAbove(torch.nn.Module):
    """Raises CUDA's out-of-memory error for inputs of more than `max_pixels` pixels, the way
    torch's caching allocator does; keeps a weak reference to the last input it saw."""

    def __init__(self, max_pixels: int) -> None:
        super().__init__()
        self.max_pixels = max_pixels
        self.last_input: weakref.ref | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_input = weakref.ref(x)
        if x.shape[-1] * x.shape[-2] > self.max_pixels:
            big = torch.empty(x.shape[-2] * x.shape[-1] * 64)  # what the failed frame had allocated
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate {big.numel() * 4 / 2**30:.2f} GiB. GPU 0 "
                f"has a total "
                "capacity of 79.19 GiB of which 12.00 MiB is free."
            )
        return x


class DeviceFailure(torch.nn.Module):
    """Fails the way a CUDA kernel fault surfaces in torch: a sticky AcceleratorError."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")


def rgba_view(side: int, value: int = 120) -> pb.View:
    return encode_view(np.full((side, side, 4), value, np.uint8), pb.PIXEL_FORMAT_RGBA8)


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """The metrics at http://127.0.0.1:port as {(sample name, sorted labels): value}."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def health(
    address: str, service: str = "artem.v1.Stylizer", channel: grpc.Channel | None = None
) -> int:
    ch = channel or grpc.insecure_channel(address)
    try:
        return (
            health_pb2_grpc.HealthStub(ch)
            .Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            .status
        )
    finally:
        if channel is None:
            ch.close()


def wait_for(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class ServeProcess:
    """`artem serve` in its own process (its own memory, logs and signals) on a free loopback
    port; stdout and stderr go to files in `folder`."""

    def __init__(
        self,
        folder: Path,
        serve_args: list[str],
        global_args: list[str] = (),
        env: dict | None = None,
        timeout: float = 120,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = folder / "serve.out", folder / "serve.err"
        self._out, self._err = open(self.stdout_path, "w"), open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "artem_server.cli",
                *global_args,
                "serve",
                "--port",
                "0",
                "--device",
                "cpu",
                *serve_args,
            ],
            stdout=self._out,
            stderr=self._err,
            env={**os.environ, **(env or {})},
        )
        self.port: int | None = None
        self.metrics_port: int | None = None
        want_metrics = "--metrics-port" in serve_args
        deadline = time.monotonic() + timeout
        while self.port is None or (want_metrics and self.metrics_port is None):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"artem serve did not start: {self.stderr_path.read_text()[-3000:]}"
                )
            for line in self.stdout_path.read_text().splitlines():
                if line.startswith("artem: serving on "):
                    self.port = int(line.split()[3].rsplit(":", 1)[1])
                elif line.startswith("artem: metrics on http://"):
                    self.metrics_port = int(line.split()[3].rsplit(":", 1)[1].split("/")[0])
            time.sleep(0.05)
        self.address = f"127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """The server process's resident memory now (VmRSS)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (a graceful stop), SIGKILL if it does not end in `timeout`; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        self._err.close()
        return self.proc.returncode

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()
