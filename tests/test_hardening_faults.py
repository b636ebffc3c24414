"""Faults, each reproduced against a real server on loopback: a client gone mid-frame, a stream
cancelled while its frame is in the model, half-written and corrupt model files, the device
running out of memory, the device failing, styles still loading, and a restart under clients."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import threading
import time

import grpc
import h2.config
import h2.connection
import numpy as np
import pytest
import torch
from artem_client import StylizerClient
from artem_client.reconnect import Backoff, stream_with_reconnect
from artem_protocol.rpc import pb
from conftest import RunningServer, add_generator_entry
from hardening_util import (
    NOT_SERVING,
    SERVING,
    BlockingModel,
    DeviceFailure,
    OomAbove,
    health,
    metric,
    rgba_view,
    scrape,
    wait_for,
)
from test_stream import config, exchange, frame, frames_of, lockstep

from artem_server.frames import FrameLimits
from artem_server.health import LIVENESS
from artem_server.models.card import CARD_FILE, WEIGHTS_FILE
from artem_server.registry import Registry
from artem_server.runs import RunOptions
from artem_server.server import ArtemServer, ServerConfig

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


@pytest.fixture()
def server(models_dir):
    """A fresh server per test: these tests break things on purpose."""
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            metrics_port=0,
            limits=FrameLimits(max_frame_bytes=4 << 20),
        )
    )
    yield s
    s.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raw_stylize(port: int) -> tuple[socket.socket, h2.connection.H2Connection]:
    """A bare HTTP/2 client that has opened a Stylize call (stream 1) and sent nothing on it."""
    sock = socket.create_connection(("127.0.0.1", port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(
        1,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/artem.v1.Stylizer/Stylize"),
            (":authority", "127.0.0.1"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ],
    )
    sock.sendall(conn.data_to_send())
    return sock, conn


def grpc_message(body: bytes) -> bytes:
    return b"\0" + len(body).to_bytes(4, "big") + body


def test_client_that_disconnects_mid_frame_costs_nothing(server):
    """Half of a 1 MiB frame message, then the socket closes: the stream's slot is freed, nothing
    is counted as served, and the next client is served as usual."""
    sock, conn = raw_stylize(server.server.port)
    big = frame(1, rgba_view(512)).SerializeToString()  # ~1 MiB of pixels
    conn.send_data(1, grpc_message(config("gen-a").SerializeToString()))
    part = grpc_message(big)[
        : conn.local_flow_control_window(1) - 64
    ]  # its header promises all of it
    for i in range(0, len(part), conn.max_outbound_frame_size):
        conn.send_data(1, part[i : i + conn.max_outbound_frame_size])
    sock.sendall(conn.data_to_send())
    wait_for(lambda: server.server.streams.open_count == 1, what="the stream to open")
    sock.close()
    wait_for(lambda: server.server.streams.open_count == 0, what="the slot to be freed")
    m = scrape(server.server.metrics_port)
    assert metric(m, "artem_frames_total") == 0 and metric(m, "artem_frames_received_total") == 0
    with StylizerClient(server.address) as c:
        (f,) = frames_of(exchange(c, [config("gen-a"), frame(2, rgba_view(16))]))
        assert f.views


def test_stream_cancelled_while_its_frame_is_in_the_model(server):
    """The running frame finishes on the model thread and its result is dropped; the frame that
    waited behind it never runs; the slot is freed and the next stream is served."""
    model = server.server.registry.register("blocking", BlockingModel())
    model = model.model
    sent = threading.Event()

    def requests():
        yield config("blocking")
        yield frame(1, rgba_view(16))
        assert model.entered.wait(30)
        yield frame(2, rgba_view(16))  # waits behind frame 1
        sent.set()
        time.sleep(30)

    with StylizerClient(server.address) as c:
        call = c.stub.Stylize(requests(), timeout=60)
        assert not next(call).HasField("error")  # the config's reply
        assert sent.wait(30)
        time.sleep(0.2)  # frame 2 is read and waiting
        call.cancel()
        wait_for(
            lambda: server.server.streams.open_count == 0, what="the cancelled stream to close"
        )
        model.release.set()
        (f,) = frames_of(exchange(c, [config("gen-a"), frame(3, rgba_view(16))]))
        assert f.id == 3 and f.views
    assert model.calls == 1, "the frame that waited behind the cancelled one never ran"
    m = scrape(server.server.metrics_port)
    assert metric(m, "artem_frames_total") == 1 and metric(m, "artem_streams") == 0


def test_half_written_and_corrupt_model_files_are_skipped_then_loaded_when_whole(tmp_path, caplog):
    staging, models = tmp_path / "staging", tmp_path / "models"
    add_generator_entry(staging, "late", seed=3)
    models.mkdir()
    s = RunningServer(ServerConfig(port=0, models_dir=models, device="cpu", watch_interval_s=0.05))
    try:
        caplog.set_level(logging.ERROR, logger="artem_server.registry")
        late = models / "late"
        late.mkdir()
        weights = (staging / "late" / WEIGHTS_FILE).read_bytes()
        shutil.copy(staging / "late" / CARD_FILE, late / CARD_FILE)
        (late / WEIGHTS_FILE).write_bytes(weights[: len(weights) // 2])  # a copy still in progress
        time.sleep(0.6)  # a dozen refreshes see it
        (late / WEIGHTS_FILE).write_bytes(b"\x93garbage" * 100)  # corrupt
        time.sleep(0.6)
        failures = [r for r in caplog.records if "cannot load style 'late'" in r.getMessage()]
        assert len(failures) == 2, "each broken version is reported once, not on every refresh"
        with StylizerClient(s.address) as c:
            assert "late" not in {st.id for st in c.list_styles()}
            (f,) = frames_of(exchange(c, [config("identity"), frame(1, rgba_view(8))]))
            assert f.views, "the server serves meanwhile"
            (late / WEIGHTS_FILE).write_bytes(weights)  # the copy completes
            wait_for(
                lambda: "late" in {st.id for st in c.list_styles()}, what="the whole file to load"
            )
            (f,) = frames_of(exchange(c, [config("late"), frame(2, rgba_view(16))]))
            assert f.style == "late" and f.views
    finally:
        s.stop()


def test_out_of_memory_refuses_the_frame_gives_cached_memory_back_and_goes_on(server, monkeypatch):
    model = server.server.registry.register("oom", OomAbove(max_pixels=64 * 64)).model
    released: list[bool] = []  # per empty_cache call: were the failed frame's tensors gone by then?
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)  # as on a GPU server
    monkeypatch.setattr(
        torch.cuda, "empty_cache", lambda: released.append(model.last_input() is None)
    )
    with StylizerClient(server.address) as c:
        replies = lockstep(
            c,
            [
                config("oom"),
                frame(1, rgba_view(32)),
                frame(2, rgba_view(256)),
                frame(3, rgba_view(32)),
            ],
        )
    f1, f2, f3 = frames_of(replies)
    assert f1.views and f3.views, "frames before and after are served"
    err = replies[2].error
    assert err.code == EXHAUSTED and "256x256" in err.message and "memory" in err.message
    assert released == [True], (
        "the cache is emptied once, after the failed frame's tensors are freed"
    )
    m = scrape(server.server.metrics_port)
    assert metric(m, "artem_device_oom_total") == 1
    assert (
        metric(m, "artem_errors_total", code="RESOURCE_EXHAUSTED") == 1
        and metric(m, "artem_frames_total") == 2
    )
    assert health(server.address) == SERVING


def test_device_failure_turns_health_not_serving_until_the_device_answers(server):
    failing = threading.Event()

    def probe(device: torch.device) -> None:
        if failing.is_set():
            raise RuntimeError("CUDA error: an illegal memory access was encountered (test)")

    monitor = server.server.device_monitor
    monitor.probe, monitor.interval_s = probe, 0.05
    server.server.registry.register("broken", DeviceFailure())
    failing.set()
    with StylizerClient(server.address) as c:
        replies = exchange(c, [config("broken"), frame(1, rgba_view(16))])
        assert (
            replies[-1].error.code == UNAVAILABLE and "device failed" in replies[-1].error.message
        )
        wait_for(lambda: health(server.address) == NOT_SERVING, what="NOT_SERVING")
        assert (
            health(server.address, "") == NOT_SERVING
            and health(server.address, LIVENESS) == SERVING
        )
        with pytest.raises(grpc.RpcError) as e:
            exchange(c, [config("identity")])
        assert (
            e.value.code() == grpc.StatusCode.UNAVAILABLE
            and "device is unusable" in e.value.details()
        )
        assert metric(scrape(server.server.metrics_port), "artem_serving") == 0
        failing.clear()  # the device recovers
        wait_for(lambda: health(server.address) == SERVING, what="SERVING again")
        (f,) = frames_of(exchange(c, [config("identity"), frame(2, rgba_view(8))]))
        assert f.views
    m = scrape(server.server.metrics_port)
    assert metric(m, "artem_device_failures_total") == 1 and metric(m, "artem_serving") == 1


def test_health_is_not_serving_while_styles_load(models_dir, monkeypatch):
    gate = threading.Event()
    real_refresh = Registry.refresh

    def slow_refresh(self):
        gate.wait(30)
        return real_refresh(self)

    monkeypatch.setattr(Registry, "refresh", slow_refresh)
    port = free_port()
    started: dict = {}
    t = threading.Thread(
        target=lambda: started.update(
            s=RunningServer(ServerConfig(port=port, models_dir=models_dir, device="cpu"))
        )
    )
    t.start()
    address = f"127.0.0.1:{port}"
    try:
        wait_for(lambda: _health_or_none(address) == NOT_SERVING, what="NOT_SERVING while loading")
        with StylizerClient(address) as c, pytest.raises(grpc.RpcError) as e:
            exchange(c, [config("gen-a")])
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "loading" in e.value.details()
        gate.set()
        t.join(60)
        assert health(address) == SERVING
        with StylizerClient(address) as c:
            (f,) = frames_of(exchange(c, [config("gen-a"), frame(1, rgba_view(16))]))
            assert f.views
    finally:
        gate.set()
        t.join(60)
        if "s" in started:
            started["s"].stop()


def _health_or_none(address: str) -> int | None:
    try:
        return health(address)
    except grpc.RpcError:
        return None  # not listening yet


def test_restart_under_streaming_clients_they_reconnect_with_backoff_and_resume(models_dir, photo):
    first = RunningServer(ServerConfig(port=0, models_dir=models_dir, device="cpu"))
    port, second = first.server.port, None
    image = np.ascontiguousarray(photo[:32, :32])
    received, result = [0], {}

    def source():
        for _ in range(250):
            time.sleep(0.005)
            yield [image]

    def on_frame(i, f):
        received[0] += 1

    def run():
        result["stats"] = stream_with_reconnect(
            first.address,
            source(),
            "gen-a",
            fmt=pb.PIXEL_FORMAT_RGB8,
            backoff=Backoff(initial_s=0.05, max_s=0.5),
            max_attempts=40,
            on_frame=on_frame,
        )

    client = threading.Thread(target=run)
    client.start()
    try:
        wait_for(lambda: received[0] >= 20, timeout=60, what="frames before the restart")
        first.stop()
        at_restart = received[0]
        second = RunningServer(ServerConfig(port=port, models_dir=models_dir, device="cpu"))
        client.join(120)
    finally:
        if second is not None:
            second.stop()
    stats = result["stats"]
    assert stats.reconnects >= 1 and stats.failures[0].startswith("UNAVAILABLE")
    assert stats.pulled == 250 and stats.received > at_restart, (
        "the stream resumed on the new server"
    )
    # each broken or refused stream loses at most the one frame it had in flight
    assert stats.received + stats.dropped + stats.lost == 250 and stats.lost <= len(stats.failures)


def test_health_is_not_serving_while_the_warm_up_compiles(models_dir):
    """--warm-size builds every style's runner at start; health waits for it (a model that takes
    its time stands for torch.compile)."""
    model, port, box = BlockingModel(), free_port(), {}

    async def main() -> None:
        server = ArtemServer(
            ServerConfig(
                port=port,
                models_dir=models_dir,
                device="cpu",
                run=RunOptions(warm_sizes=[(1, 16, 16)]),
            )
        )
        server.registry.register("slow", model)  # registered before start: the warm-up runs it
        server.device_monitor.timeout_s = (
            0.3  # a warm-up longer than the probe's timeout is not a device fault
        )
        box["server"], box["loop"], box["stop"] = (
            server,
            asyncio.get_running_loop(),
            asyncio.Event(),
        )
        await server.start()
        await box["stop"].wait()
        await server.stop()

    t = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    t.start()
    address = f"127.0.0.1:{port}"
    try:
        assert model.entered.wait(60), "the warm-up ran the model"
        time.sleep(1.0)
        assert _health_or_none(address) == NOT_SERVING
        readiness = box["server"].readiness
        assert "loading" in readiness.reason() and not readiness.device_error and readiness.alive()
        model.release.set()
        wait_for(lambda: _health_or_none(address) == SERVING, what="SERVING after the warm-up")
    finally:
        model.release.set()
        wait_for(lambda: "stop" in box, what="the server to start")
        box["loop"].call_soon_threadsafe(box["stop"].set)
        t.join(30)
