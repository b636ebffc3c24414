"""Scale-out on existing parts: two `artem serve` replicas behind nginx's gRPC proxying, on
loopback, with the shipped deploy/nginx/nginx.conf (ports rewritten). Each stream stays on one
replica; streams spread over both; a replica that stops or is NOT_SERVING loses its new streams
to the other, and retrying clients carry on."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from artem_client import StylizerClient
from artem_client.load import run_load
from artem_client.reconnect import Backoff, stream_with_reconnect
from artem_protocol.rpc import pb
from conftest import RunningServer
from hardening_util import metric, rgba_view, scrape, wait_for
from test_stream import config, frame

from artem_server.frames import FrameLimits
from artem_server.server import ServerConfig
from artem_server.stream_guard import REPLICA_KEY

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
)
pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (`apt-get install nginx`; .ci/run installs it)"
)
SHIPPED = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "nginx.conf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx:
    """nginx in the foreground with the shipped config, its listen port and replicas rewritten."""

    def __init__(self, prefix: Path, replicas: list[int]) -> None:
        prefix.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        text = SHIPPED.read_text()
        text = re.sub(
            r"listen 127\.0\.0\.1:\d+ http2;", f"listen 127.0.0.1:{self.port} http2;", text
        )
        servers = re.findall(r"^\s*server 127\.0\.0\.1:\d+ .*;$", text, flags=re.M)
        assert len(servers) == 2, "the shipped config names two replicas"
        text = text.replace(
            "\n".join(servers),
            "\n".join(re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{p}", servers[0]) for p in replicas),
        )
        conf = prefix / "nginx.conf"
        conf.write_text(text)
        self.log = prefix / "error.log"
        self.proc = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(prefix),
                "-c",
                str(conf),
                "-e",
                str(prefix / "startup.log"),
                "-g",
                "daemon off; master_process off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"nginx did not start: {(prefix / 'startup.log').read_text()}"
                    ) from None
                time.sleep(0.05)
        self.address = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture()
def cluster(tmp_path, models_dir):
    replicas = {
        name: RunningServer(
            ServerConfig(
                port=0,
                models_dir=models_dir,
                device="cpu",
                metrics_port=0,
                replica=name,
                limits=FrameLimits(max_frame_bytes=1 << 20),
            )
        )
        for name in ("r1", "r2")
    }
    proxy = Nginx(tmp_path / "nginx", [r.server.port for r in replicas.values()])
    yield proxy, replicas
    proxy.stop()
    for r in replicas.values():
        if r._thread.is_alive():
            r.stop()


class HeldStream:
    """A Stylize call whose requests the test sends one by one."""

    def __init__(self, client: StylizerClient) -> None:
        self._q: queue.Queue = queue.Queue()
        self.call = client.stub.Stylize(iter(self._q.get, None), timeout=120)

    def send(self, request: pb.StylizeRequest) -> pb.StylizeReply:
        self._q.put(request)
        return next(self.call)

    def close(self) -> None:
        self._q.put(None)
        list(self.call)


def frames_served(replica: RunningServer) -> float:
    return metric(scrape(replica.server.metrics_port), "artem_frames_total")


def test_each_stream_stays_on_one_replica_and_streams_spread_over_both(cluster):
    proxy, replicas = cluster
    with StylizerClient(proxy.address) as c:
        streams = []
        for _ in range(4):  # opened one after another, all held open: least_conn alternates
            s = HeldStream(c)
            assert not s.send(config("gen-a")).HasField("error")
            streams.append((s, dict(s.call.initial_metadata())[REPLICA_KEY]))
        assert sorted(name for _, name in streams) == ["r1", "r1", "r2", "r2"]
        assert all(r.server.streams.open_count == 2 for r in replicas.values())
        sent = {"r1": 0, "r2": 0}
        for i, (s, name) in enumerate(streams):
            for j in range(i + 2):  # a different number of frames on each stream
                reply = s.send(frame(j, rgba_view(16)))
                assert reply.frame.views and reply.frame.style == "gen-a"
                sent[name] += 1
        for s, _ in streams:
            s.close()
    # every frame of a stream was served by the replica that took the stream
    assert {name: frames_served(r) for name, r in replicas.items()} == sent


def test_a_replica_that_stops_loses_its_streams_to_the_other(cluster):
    proxy, replicas = cluster
    result = {}
    loader = threading.Thread(
        target=lambda: result.update(
            load=run_load(
                proxy.address,
                streams=4,
                duration_s=6.0,
                style="gen-a",
                size=(32, 32),
                reconnect=True,
            )
        )
    )
    loader.start()
    wait_for(
        lambda: replicas["r1"].server.streams.open_count >= 1 and frames_served(replicas["r1"]) > 5,
        what="streams on r1",
    )
    replicas["r1"].stop()  # graceful: its streams end with UNAVAILABLE, then its port closes
    served_by_r2_at_stop = frames_served(replicas["r2"])
    loader.join(120)
    load = result["load"]
    assert not load.errors, load.errors
    assert load.total("reconnects") >= 1
    assert frames_served(replicas["r2"]) > served_by_r2_at_stop
    assert replicas["r2"].server.streams.open_count == 0
    assert load.total("received") + load.total("dropped") + load.total("lost") == load.total("sent")
    assert load.total("lost") <= 4 * 3, "only frames in flight when r1 stopped are lost"


def test_new_streams_avoid_a_replica_that_is_not_serving(cluster):
    proxy, replicas = cluster
    sick = replicas["r1"].server

    async def device_unusable() -> None:
        sick.readiness.set_device("test: the device stopped answering")
        await sick.readiness.publish()

    asyncio.run_coroutine_threadsafe(device_unusable(), replicas["r1"].loop).result(10)
    image = np.zeros((16, 16, 3), np.uint8)
    refusals = 0
    for _ in range(4):  # whichever replica nginx picks first, each stream ends up served by r2
        # a refused stream loses the frame it had taken from the source: give each a few to spare
        stats = stream_with_reconnect(
            proxy.address,
            ([image] for _ in range(12)),
            "gen-a",
            fmt=pb.PIXEL_FORMAT_RGB8,
            backoff=Backoff(initial_s=0.02, max_s=0.2),
        )
        assert stats.received >= 1 and all("not serving" in f for f in stats.failures)
        refusals += len(stats.failures)
    assert refusals >= 1, "nginx sent some streams to r1, which refused them"
    assert frames_served(replicas["r1"]) == 0 and frames_served(replicas["r2"]) >= 4
