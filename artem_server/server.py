"""Build, run and stop the gRPC server: the Stylizer service, health and reflection.

Lifecycle: styles load before the port opens; health says SERVING once they have; on
SIGINT/SIGTERM health flips to NOT_SERVING, streams answer the frames they hold and end with
UNAVAILABLE, then the server stops with a grace period and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .frames import FrameLimits
from .registry import Registry
from .rpc import pb
from .runs import RunOptions
from .service import Engine, StylizerService
from .transport.alloc import keep_frame_buffers
from .transport.wire import add_stylizer_servicer

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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    if dev.type not in ("cpu", "cuda"):
        raise SystemExit(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    return dev


class ArtemServer:
    """A started server; `port` is the bound port. Use `await stop()` to end it."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.registry = Registry(config.models_dir)
        self.engine = Engine(self.registry, resolve_device(config.device), config.limits, config.run)
        self.service = StylizerService(self.engine)
        self.health = health.aio.HealthServicer()
        size = config.limits.transport_message_bytes()
        self.grpc = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
        ])
        add_stylizer_servicer(self.service, self.grpc)  # the generated registration, zero-copy pixels
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self.grpc)
        self.port = 0

    async def start(self) -> int:
        address = f"{self.config.host}:{self.config.port}"
        self.port = self.grpc.add_insecure_port(address)
        if self.port == 0:
            raise OSError(f"cannot listen on {address}")
        await self.grpc.start()
        self.registry.watch(self.config.watch_interval_s)
        self.engine.runs.warm_styles(self.engine.executor, self.registry.styles())  # --warm-size
        for service in ("", SERVICE_NAME):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("artem serving on %s:%d, device %s, default backend %s %s, styles: %s", self.config.host,
                 self.port, self.engine.device, self.engine.runs.default.backend,
                 self.engine.runs.default.precision, ", ".join(self.registry.ids()))
        return self.port

    async def stop(self) -> None:
        await self.health.enter_graceful_shutdown()
        self.service.begin_shutdown()
        await self.grpc.stop(self.config.grace_s)
        self.registry.close()
        self.engine.close()
        log.info("artem stopped")


async def serve(config: ServerConfig, ready: asyncio.Event | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly."""
    keep_frame_buffers()  # a serving process reuses frame-sized buffers (transport/alloc.py)
    server = ArtemServer(config)
    await server.start()
    print(f"artem: serving on {config.host}:{server.port} (device {server.engine.device}); Ctrl-C stops",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    log.info("signal received: finishing in-flight frames")
    await server.stop()
