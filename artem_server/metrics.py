"""Prometheus metrics on an HTTP port: frames, drops, errors by status code, per-stage latency,
streams, health, device memory and the process's own (resident memory, CPU, open files).

Each server has its own CollectorRegistry, so several servers in one process (tests, replicas)
never share counts. Counts come from the replies the server sends, so they match what clients
see: a frame reply with pixels is a frame, one with `error` an error of its code, and
`dropped_frames` adds to the drops. Device memory is read at scrape time, never per frame.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import grpc
import torch
from artem_protocol.rpc import pb
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

STAGES = ("queue", "convert", "model", "transfer", "total")
# Seconds; dense around a VR frame's 11.1 ms budget, wide enough for a CPU server.
BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.011,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.2,
    0.5,
    1,
    2.5,
    5,
    10,
)
_CODES = {c.value[0]: c.name for c in grpc.StatusCode}


class DeviceMemoryCollector(Collector):
    """artem_device_memory_bytes{device, kind}: torch's allocated and reserved (cached) bytes and
    the device's free and total, on CUDA once CUDA is in use; nothing on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.device.type != "cuda" or not torch.cuda.is_initialized():
            return
        g = GaugeMetricFamily(
            "artem_device_memory_bytes", "Device memory by kind", labels=["device", "kind"]
        )
        free, total = torch.cuda.mem_get_info(self.device)
        name = str(self.device)
        for kind, value in (
            ("allocated", torch.cuda.memory_allocated(self.device)),
            ("reserved", torch.cuda.memory_reserved(self.device)),
            ("free", free),
            ("total", total),
        ):
            g.add_metric([name, kind], float(value))
        yield g


class Metrics:
    """The server's metrics; `serve` exposes them over HTTP (Prometheus text format)."""

    def __init__(self, device: torch.device = torch.device("cpu")) -> None:
        r = self.registry = CollectorRegistry()
        self.frames = Counter("artem_frames", "Frames answered with pixels", registry=r)
        self.frames_received = Counter(
            "artem_frames_received", "Frames read off Stylize streams", registry=r
        )
        self.dropped = Counter(
            "artem_frames_dropped", "Frames replaced unanswered (latest frame wins)", registry=r
        )
        self.errors = Counter(
            "artem_errors", "Refused requests and calls, by gRPC status code", ["code"], registry=r
        )
        self.stage = Histogram(
            "artem_stage_seconds",
            "Server-side time of answered frames, by stage",
            ["stage"],
            buckets=BUCKETS,
            registry=r,
        )
        self.streams = Gauge("artem_streams", "Open Stylize streams", registry=r)
        self.streams_opened = Counter(
            "artem_streams_opened", "Stylize streams admitted", registry=r
        )
        self.serving = Gauge(
            "artem_serving", "1 while health says SERVING (a frame would be served)", registry=r
        )
        self.device_oom = Counter(
            "artem_device_oom", "Frames refused: the device ran out of memory", registry=r
        )
        self.device_failures = Counter(
            "artem_device_failures", "Frames failed by a device error", registry=r
        )
        ProcessCollector(
            registry=r
        )  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        r.register(DeviceMemoryCollector(torch.device(device)))
        self._stages = {s: self.stage.labels(s) for s in STAGES}
        self._http = None
        self._thread: threading.Thread | None = None

    def count_error(self, code: grpc.StatusCode | int) -> None:
        name = _CODES.get(code, "UNKNOWN") if isinstance(code, int) else code.name
        self.errors.labels(name).inc()

    def observe_reply(self, reply: pb.StylizeReply) -> None:
        """Count one reply as the client will see it."""
        if reply.HasField("error"):
            self.count_error(reply.error.code)
            return
        if reply.WhichOneof("kind") != "frame":
            return
        f = reply.frame
        self.frames.inc()
        if f.dropped_frames:
            self.dropped.inc(f.dropped_frames)
        t = f.timings
        for stage, ms in (
            ("queue", t.queue_ms),
            ("convert", t.convert_ms),
            ("model", t.model_ms),
            ("transfer", t.transfer_ms),
            ("total", t.total_ms),
        ):
            self._stages[stage].observe(ms / 1e3)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start the HTTP endpoint (/metrics, any path) on a daemon thread; return its port."""
        self._http, self._thread = start_http_server(port, addr=host, registry=self.registry)
        bound = self._http.server_port
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
