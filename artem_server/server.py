"""Build, run and stop the gRPC server: the Stylizer service, health and reflection.

Lifecycle: the port opens with health NOT_SERVING; styles load and the device is probed; health
says SERVING once a frame would be served (artem_server/health.py); on SIGINT/SIGTERM health
flips to NOT_SERVING, streams answer the frames they hold and end with UNAVAILABLE, then the
server stops with a grace period and the process exits 0.

Around the service: limits and keepalive (limits.py), TLS and the bearer token (security.py),
AddStyle quotas (quotas.py), per-stream admission, idle timeout and ids (stream_guard.py),
Prometheus metrics (metrics.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
import torch
from artem_protocol.rpc import pb
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .frames import FrameLimits
from .health import DeviceMonitor, Readiness, start_health_listener, watch_frames
from .limits import ServerLimits, grpc_options
from .metrics import Metrics
from .quotas import StyleQuotaInterceptor
from .registry import Registry
from .runs import RunOptions
from .security import TlsFiles, TokenInterceptor, bind, exposure_warnings
from .service import Engine, StylizerService
from .stream_guard import StreamGuard
from .transport.alloc import keep_frame_buffers
from .transport.handlers import add_stylizer_servicer

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Stylizer"].full_name


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051  # 0 picks a free port
    models_dir: Path = Path("models")
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    limits: FrameLimits = field(default_factory=FrameLimits)
    watch_interval_s: float = 1.0
    grace_s: float = 5.0
    run: RunOptions = field(default_factory=RunOptions)  # default backend/precision, warm sizes
    server_limits: ServerLimits = field(
        default_factory=ServerLimits
    )  # streams, idle, AddStyle, keepalive
    tls: TlsFiles | None = None  # None: plaintext (warned about beyond loopback)
    token: str | None = field(
        default=None, repr=False
    )  # bearer token every call but health must carry
    metrics_port: int | None = None  # Prometheus endpoint; None: off, 0: any free port
    metrics_host: str = "127.0.0.1"
    health_port: int | None = (
        None  # plaintext health-only listener for probes without TLS; None: off
    )
    replica: str = ""  # this server's name in stream metadata (empty: hostname:port)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)"
        )
    if dev.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    return dev


class ArtemServer:
    """A started server; `port` is the bound port. Use `await stop()` to end it."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.registry = Registry(
            config.models_dir, load=False
        )  # loads in start(), health NOT_SERVING
        device = resolve_device(config.device)
        self.metrics = Metrics(device)
        run = replace(
            config.run, build_threads=config.server_limits.max_streams
        )  # one a stream slot
        self.engine = Engine(self.registry, device, config.limits, run)
        self.engine.style_limits = replace(
            self.engine.style_limits,  # AddStyle's decoder agrees with the quota
            max_bytes=config.server_limits.max_style_image_bytes,
        )
        self.engine.fields = config.server_limits.fields
        self.health = health.aio.HealthServicer()
        self.readiness = Readiness(self.health, ("", SERVICE_NAME), self.metrics)
        self.engine.frame_deadline_s = self.readiness.frame_deadline_s = (
            config.server_limits.frame_deadline_s
        )
        self.readiness.stalled_s = self.engine.stalled_s
        self.device_monitor = DeviceMonitor(device, self.engine.executor, self.readiness)
        self.engine.device_guard.on_oom = self.metrics.device_oom.inc
        self.engine.device_guard.on_failure = self._device_failed
        self.streams = StreamGuard(
            config.server_limits, self.metrics, self.readiness, config.replica
        )
        self.service = StylizerService(self.engine, self.streams)
        interceptors = [
            StyleQuotaInterceptor(
                config.server_limits, config.models_dir, self.metrics, config.server_limits.fields
            )
        ]
        if config.token:
            interceptors.insert(0, TokenInterceptor(config.token, self.metrics.count_error))
        self.grpc = grpc.aio.server(
            options=grpc_options(config.limits, config.server_limits),
            interceptors=interceptors,
            maximum_concurrent_rpcs=config.server_limits.max_rpcs,
        )
        add_stylizer_servicer(
            self.service, self.grpc
        )  # the generated registration, zero-copy pixels
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self.grpc,
        )
        self.port = 0
        self.metrics_port: int | None = None
        self.health_port: int | None = None
        self._health_server: grpc.aio.Server | None = None
        self._frame_watch: asyncio.Task | None = None

    def _device_failed(self, error: BaseException) -> None:
        """On the model thread: a frame failed with a device error; health follows the probe."""
        self.metrics.device_failures.inc()
        self.device_monitor.suspect(error)

    async def start(self) -> int:
        c = self.config
        for warning in exposure_warnings(c.host, c.tls is not None, bool(c.token)):
            log.warning("SECURITY WARNING: %s", warning)
        await self.readiness.publish()  # NOT_SERVING: nothing is loaded yet
        address = f"{c.host}:{c.port}"
        self.port = bind(self.grpc, address, c.tls)
        if self.port == 0:
            raise OSError(f"cannot listen on {address}")
        await self.grpc.start()
        self.streams.replica = c.replica or f"{socket.gethostname()}:{self.port}"
        if c.health_port is not None:
            self._health_server, self.health_port = await start_health_listener(
                self.health, c.host, c.health_port
            )
        if c.metrics_port is not None:
            self.metrics_port = self.metrics.serve(c.metrics_host, c.metrics_port)
        await asyncio.get_running_loop().run_in_executor(None, self.registry.refresh)
        self.registry.watch(c.watch_interval_s)
        # --warm-size: every style compiled for the warm sizes (minutes with torch.compile); until
        # that is over health says NOT_SERVING ("loading"). A failed build is the frames' to report.
        await asyncio.gather(
            *(asyncio.wrap_future(f) for f in self.engine.runs.warm_styles(self.registry.styles())),
            return_exceptions=True,
        )
        self.readiness.loaded = True
        await self.device_monitor.start()  # SERVING when the device answers
        self._frame_watch = asyncio.get_running_loop().create_task(watch_frames(self.readiness))
        log.info(
            "artem serving on %s:%d, device %s, default backend %s %s, styles: %s",
            self.config.host,
            self.port,
            self.engine.device,
            self.engine.runs.default.backend,
            self.engine.runs.default.precision,
            ", ".join(self.registry.ids()),
        )
        return self.port

    async def stop(self) -> None:
        await self.readiness.drain()
        self.service.begin_shutdown(self.config.grace_s)
        await self.grpc.stop(self.config.grace_s)
        if self._health_server is not None:
            await self._health_server.stop(0)
        self.device_monitor.close()
        if self._frame_watch is not None:
            self._frame_watch.cancel()
        self.metrics.close()
        self.registry.close()
        self.engine.close()
        log.info("artem stopped")


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly."""
    keep_frame_buffers()  # a serving process reuses frame-sized buffers (transport/alloc.py)
    server = ArtemServer(config)
    await server.start()
    print(
        f"artem: serving on {config.host}:{server.port} (device {server.engine.device}); Ctrl-C "
        f"stops",
        flush=True,
    )
    if server.metrics_port is not None:
        print(
            f"artem: metrics on http://{config.metrics_host}:{server.metrics_port}/metrics",
            flush=True,
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("signal received: finishing in-flight frames")
    await server.stop()
