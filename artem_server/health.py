"""Health that tells the truth: SERVING only when a frame would be served.

Readiness ("" and artem.v1.Stylizer) is SERVING while the styles have loaded, the device
answers a probe, no frame has waited for the model longer than the frame deadline (a stuck or
swamped model thread) and the server is not shutting down; NOT_SERVING otherwise, with the
reason kept for the refusals. Liveness (artem.liveness) stays SERVING unless the device has been
unusable for `dead_after_s`: a CUDA context that hit a sticky error never recovers, and a
supervisor (Kubernetes' liveness probe) should then restart the process.

The device probe runs on the model thread, behind any frame already queued there, so a probe
that passes means a frame submitted now would run. After a device error the probe repeats
every `interval_s` until it passes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable

import grpc
import torch
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from .metrics import Metrics

log = logging.getLogger(__name__)

LIVENESS = "artem.liveness"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def probe_device(device: torch.device) -> None:
    """A small computation on `device` whose answer is checked; raises when the device fails."""
    x = torch.arange(64, dtype=torch.float32, device=device)
    got = float((x * 2).sum().item())  # .item() waits for the device: a hung device times out here
    if got != 4032.0:
        raise RuntimeError(f"device probe on {device} computed {got}, expected 4032")


class Readiness:
    """Owns the health statuses; everything that changes readiness goes through `publish`."""

    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        services: tuple[str, ...],
        metrics: Metrics | None = None,
        dead_after_s: float = 60.0,
    ) -> None:
        self.servicer = servicer
        self.services = services
        self.metrics = metrics
        self.dead_after_s = dead_after_s
        self.loaded = False
        self.draining = False
        self.device_error = ""  # empty: the device answers
        self._unusable_since: float | None = None
        self.stalled_s: Callable[[], float] = lambda: (
            0.0
        )  # the oldest frame's wait (Engine.stalled_s)
        self.frame_deadline_s = 0.0  # 0: frames' waits do not count

    def stalled(self) -> bool:
        return self.frame_deadline_s > 0 and self.stalled_s() > self.frame_deadline_s

    @property
    def serving(self) -> bool:
        return self.loaded and not self.device_error and not self.draining and not self.stalled()

    def reason(self) -> str:
        """Why a frame would not be served now (empty when it would)."""
        if self.draining:
            return "the server is shutting down"
        if not self.loaded:
            return "the server is still loading its styles"
        if self.device_error:
            return f"the device is unusable ({self.device_error})"
        if self.stalled():
            return (
                f"a frame has waited {self.stalled_s():.1f} s for the model, more than the frame "
                f"deadline "
                f"({self.frame_deadline_s:g} s)"
            )
        return ""

    def set_device(self, error: str) -> None:
        if error and self._unusable_since is None:
            self._unusable_since = time.monotonic()
        elif not error:
            self._unusable_since = None
        self.device_error = error

    def alive(self) -> bool:
        return (
            self._unusable_since is None
            or time.monotonic() - self._unusable_since < self.dead_after_s
        )

    async def publish(self) -> None:
        status = SERVING if self.serving else NOT_SERVING
        for service in self.services:
            await self.servicer.set(service, status)
        await self.servicer.set(LIVENESS, SERVING if self.alive() else NOT_SERVING)
        if self.metrics is not None:
            self.metrics.serving.set(1 if self.serving else 0)

    async def drain(self) -> None:
        """Shutting down: NOT_SERVING everywhere, for good."""
        self.draining = True
        if self.metrics is not None:
            self.metrics.serving.set(0)
        await self.servicer.enter_graceful_shutdown()


class DeviceMonitor:
    """Probes the device at start and after device errors; keeps `readiness` current."""

    def __init__(
        self,
        device: torch.device,
        executor: concurrent.futures.Executor,
        readiness: Readiness,
        probe: Callable[[torch.device], None] = probe_device,
        interval_s: float = 5.0,
        timeout_s: float = 30.0,
    ) -> None:
        self.device = device
        self.executor = executor
        self.readiness = readiness
        self.probe = probe
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> bool:
        """The first probe; when it fails, keep probing until the device answers."""
        if await self.check():
            return True
        self._start_watch()
        return False

    async def check(self) -> bool:
        """Probe once (on the model thread); update and publish readiness; True when usable."""
        self._loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                self._loop.run_in_executor(self.executor, self.probe, self.device), self.timeout_s
            )
            error = ""
        except asyncio.TimeoutError:
            error = f"a probe of {self.device} did not finish in {self.timeout_s:g} s"
        except Exception as e:  # what the device raised: it is the reason health gives
            error = str(e).splitlines()[0] if str(e) else type(e).__name__
        was = self.readiness.device_error
        self.readiness.set_device(error)
        if error != was:
            (log.error if error else log.info)(
                "device %s: %s", self.device, error or "usable again"
            )
        await self.readiness.publish()
        return not error

    def suspect(self, error: BaseException) -> None:
        """A frame failed with a device error (called from any thread): re-probe until usable."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._start_watch)

    def _start_watch(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while not await self.check() and not self.readiness.draining:
            await asyncio.sleep(self.interval_s)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def watch_frames(readiness: Readiness, interval_s: float = 0.2) -> None:
    """Publish readiness whenever frames start or stop missing the deadline (admission reads
    it live; health checks and balancers see it within `interval_s`). Runs until cancelled."""
    was = readiness.serving
    while True:
        await asyncio.sleep(interval_s)
        now = readiness.serving
        if now != was:
            if readiness.stalled():
                log.warning("NOT_SERVING: %s", readiness.reason())
            elif not readiness.draining:
                log.info("frames meet the deadline again")
            await readiness.publish()
            was = now


async def start_health_listener(
    servicer: health.aio.HealthServicer, host: str, port: int
) -> tuple[grpc.aio.Server, int]:
    """A plaintext server with the health service alone, for probes that cannot speak TLS
    (Kubernetes' gRPC probes); returns it and its bound port."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port} for health checks")
    await server.start()
    return server, bound
