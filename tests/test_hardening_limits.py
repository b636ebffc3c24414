"""Limits: each refusal has the right status code and names the limit; a freed slot is reusable;
idle streams end, busy ones do not; keepalive closes connections to peers that stopped answering."""

from __future__ import annotations

import socket
import threading
import time

import grpc
import h2.config
import h2.connection
import h2.events
import pytest
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from conftest import RunningServer
from hardening_util import BlockingModel, metric, rgba_view, scrape, wait_for
from test_stream import config, frame

from artem_server.frames import FrameLimits
from artem_server.limits import Keepalive, ServerLimits, grpc_options
from artem_server.models.card import ModelCard
from artem_server.models.store import write_entry
from artem_server.server import ServerConfig


def hold_stream(client: StylizerClient, style: str = "identity"):
    """Open a Stylize stream, wait for its config reply (it was admitted), keep it open."""
    stop = threading.Event()

    def requests():
        yield config(style)
        stop.wait(30)

    call = client.stub.Stylize(requests(), timeout=60)
    first = next(call)
    assert not first.HasField("error")
    return call, stop


@pytest.fixture(scope="module")
def small_server(models_dir):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            metrics_port=0,
            server_limits=ServerLimits(max_streams=2, stream_idle_timeout_s=0),
        )
    )
    yield s
    s.stop()


def test_stream_past_max_streams_is_refused_with_the_limit_and_a_freed_slot_is_reused(small_server):
    with StylizerClient(small_server.address) as c:
        held = [hold_stream(c), hold_stream(c)]
        with pytest.raises(grpc.RpcError) as e:
            hold_stream(c)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_streams = 2" in e.value.details()
        call, stop = held.pop()
        stop.set()
        list(call)  # the server ends it after the client half-closes
        wait_for(lambda: small_server.server.streams.open_count == 1, what="the slot to be freed")
        held.append(hold_stream(c))  # admitted again
        for call, stop in held:
            stop.set()
            list(call)
    m = scrape(small_server.server.metrics_port)
    assert metric(m, "artem_errors_total", code="RESOURCE_EXHAUSTED") == 1
    wait_for(
        lambda: metric(scrape(small_server.server.metrics_port), "artem_streams") == 0,
        what="streams gauge 0",
    )


def test_unary_calls_still_work_while_streams_are_full(small_server):
    with StylizerClient(small_server.address) as c:
        held = [hold_stream(c), hold_stream(c)]
        assert "identity" in {s.id for s in c.list_styles()}
        info = c.server_info()  # a client can plan by the limits before it is refused
        assert (info.max_streams, info.stream_idle_timeout_s) == (2, 0.0)
        defaults = ServerLimits()
        assert (info.max_style_image_bytes, info.max_added_styles) == (
            defaults.max_style_image_bytes,
            defaults.max_added_styles,
        )
        for call, stop in held:
            stop.set()
            list(call)


@pytest.fixture(scope="module")
def idle_server(models_dir):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            metrics_port=0,
            server_limits=ServerLimits(stream_idle_timeout_s=0.5),
        )
    )
    s.server.registry.register("slow", slow := BlockingModel())
    s.slow = slow
    yield s
    s.stop()


def test_idle_stream_ends_with_deadline_exceeded_naming_the_limit(idle_server):
    with StylizerClient(idle_server.address) as c:
        started = time.monotonic()
        call, stop = hold_stream(c)
        with pytest.raises(grpc.RpcError) as e:
            list(call)
        stop.set()
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "stream_idle_timeout_s = 0.5" in e.value.details()
    assert 0.4 < time.monotonic() - started < 10
    assert (
        metric(
            scrape(idle_server.server.metrics_port), "artem_errors_total", code="DEADLINE_EXCEEDED"
        )
        >= 1
    )


def test_a_stream_that_keeps_sending_or_waits_on_a_slow_frame_is_not_idle(idle_server):
    slow = idle_server.slow

    def requests():
        for i in range(6):  # 1.2 s of frames every 0.2 s: longer than the timeout, never idle
            yield frame(i, rgba_view(8))
            time.sleep(0.2)
        yield config("slow")
        yield frame(99, rgba_view(8))  # runs 1.2 s in the model: the client waits, it is not idle
        threading.Timer(1.2, slow.release.set).start()
        time.sleep(1.5)

    with StylizerClient(idle_server.address) as c:
        replies = list(c.stub.Stylize(iter_with_config(requests()), timeout=60))
    frames = [
        r.frame for r in replies if r.WhichOneof("kind") == "frame" and not r.HasField("error")
    ]
    assert [f.id for f in frames][-1] == 99 and len(frames) >= 2


def iter_with_config(requests):
    yield config("identity")
    yield from requests


def test_keepalive_closes_a_connection_whose_peer_stopped_answering(models_dir):
    """A client that opened a stream and then went silent (no ping acks: a headset switched
    off) loses its connection and its stream slot after keepalive time + timeout."""
    keepalive = Keepalive(time_s=0.3, timeout_s=0.3)
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            server_limits=ServerLimits(stream_idle_timeout_s=0, keepalive=keepalive),
        )
    )
    try:
        sock = socket.create_connection(("127.0.0.1", s.server.port))
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
        body = config("identity").SerializeToString()
        conn.send_data(1, b"\0" + len(body).to_bytes(4, "big") + body)
        sock.sendall(conn.data_to_send())
        events: list = []
        while not any(isinstance(e, h2.events.DataReceived) for e in events):  # the config's reply
            events += conn.receive_data(sock.recv(65536))
        sock.sendall(conn.data_to_send())  # alive so far: settings and the first ping acknowledged
        assert s.server.streams.open_count == 1
        started = time.monotonic()
        # From now on this client reads nothing and answers no ping.
        wait_for(
            lambda: s.server.streams.open_count == 0,
            timeout=20,
            what="keepalive to drop the stream",
        )
        assert time.monotonic() - started < 10
        sock.close()
    finally:
        s.stop()


def test_grpc_options_carry_every_limit():
    opts = dict(
        grpc_options(
            FrameLimits(max_frame_bytes=1 << 20),
            ServerLimits(
                max_rpcs=40, keepalive=Keepalive(time_s=7, timeout_s=3, max_connection_idle_s=60)
            ),
        )
    )
    assert (
        opts["grpc.max_receive_message_length"]
        == FrameLimits(max_frame_bytes=1 << 20).transport_message_bytes()
    )
    assert opts["grpc.keepalive_time_ms"] == 7000 and opts["grpc.keepalive_timeout_ms"] == 3000
    assert (
        opts["grpc.max_concurrent_streams"] == 40 and opts["grpc.max_connection_idle_ms"] == 60000
    )
    with pytest.raises(ValueError, match="max_rpcs"):
        ServerLimits(max_streams=10, max_rpcs=10)


def added_entry(models_dir, name: str, size: int = 0) -> None:
    """An entry as AddStyle leaves it (made_by names AddStyle), with `size` bytes of payload."""
    card = ModelCard(
        name=name,
        kind="identity",
        source="AddStyle: a test image over gRPC",
        made_by={"by": "AddStyle: a test image over gRPC"},
    )
    entry = write_entry(models_dir, card, {})
    if size:
        (entry.path / "thumbnail.png").write_bytes(b"\0" * size)


def add_style(
    c: StylizerClient, name: str, image: bytes = b"\x89PNG fake", replace: bool = False
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as e:
        c.stub.AddStyle(
            pb.AddStyleRequest(name=name, model="no-such-model", image=image, replace=replace),
            timeout=30,
        )
    return e.value


def test_add_style_limits_refuse_with_resource_exhausted_before_decoding(tmp_path):
    models = tmp_path / "models"
    added_entry(models, "added-1", size=3000)
    limits = ServerLimits(
        max_added_styles=1, max_added_styles_bytes=2000, max_style_image_bytes=1000
    )
    s = RunningServer(
        ServerConfig(port=0, models_dir=models, device="cpu", metrics_port=0, server_limits=limits)
    )
    try:
        with StylizerClient(s.address) as c:
            e = add_style(c, "new-style")
            assert (
                e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                and "max_added_styles = 1" in e.details()
            )
            e = add_style(c, "new-style", image=b"\0" * 1001)
            assert (
                e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                and "max_style_image_bytes" in e.details()
            )
            assert "1000" in e.details()
            # Replacing a style added earlier adds none: it passes the count and goes on to the
            # handler, which refuses it for its own reasons.
            e = add_style(c, "added-1", replace=True)
            assert e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED
        s.stop()
        s = RunningServer(
            ServerConfig(
                port=0,
                models_dir=models,
                device="cpu",
                server_limits=ServerLimits(max_added_styles=5, max_added_styles_bytes=2000),
            )
        )
        with StylizerClient(s.address) as c:
            e = add_style(c, "another")
            assert (
                e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                and "max_added_styles_bytes = 2000" in e.details()
            )
    finally:
        s.stop()
    assert not (models / "new-style").exists() and not (models / "another").exists()
