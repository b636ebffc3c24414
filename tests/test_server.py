"""Server-level behaviour: discovery RPCs, health, reflection, hot reload, graceful shutdown."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
from artem_client import StylizerClient
from artem_client.frames import encode_view
from artem_protocol.rpc import pb
from conftest import RunningServer, add_generator_entry
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from test_stream import config, frame

from artem_server.server import ServerConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_list_styles_shows_identity_builtins_and_models_dir(client):
    styles = {s.id: s for s in client.list_styles()}
    assert {"identity", "gen-a", "gen-b"} <= set(styles)
    assert styles["gen-a"].kind == "generator" and styles["gen-a"].thumbnail_png.startswith(
        PNG_MAGIC
    )
    assert styles["gen-a"].metadata["source"] == "tests: random weights"
    assert styles["identity"].kind == "identity"
    builtin = [s for s in styles.values() if s.metadata.get("origin") == "builtin"]
    assert builtin, "the shipped default style is always listed"


def test_server_info(client, server):
    info = client.server_info()
    assert info.device == "cpu" and "torch-eager" in info.backends
    assert set(info.pixel_formats) == {
        pb.PIXEL_FORMAT_RGBA8,
        pb.PIXEL_FORMAT_BGRA8,
        pb.PIXEL_FORMAT_RGB8,
    }
    assert info.max_frame_bytes == server.config.limits.max_frame_bytes and info.max_views == 2


def test_health_reports_serving(server):
    with grpc.insecure_channel(server.address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for service in ("", "artem.v1.Stylizer"):
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_describes_the_contract(server):
    with grpc.insecure_channel(server.address) as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        assert {"artem.v1.Stylizer", "grpc.health.v1.Health"} <= set(db.get_services())
        pool = descriptor_pool.DescriptorPool(db)
        method = pool.FindServiceByName("artem.v1.Stylizer").methods_by_name["Stylize"]
        assert method.input_type.full_name == "artem.v1.StylizeRequest"
        assert method.client_streaming and method.server_streaming


def test_new_model_appears_without_restart_and_broken_one_is_skipped(tmp_path):
    server = RunningServer(
        ServerConfig(port=0, models_dir=tmp_path, device="cpu", watch_interval_s=0.1)
    )
    try:
        with StylizerClient(server.address) as c:
            assert "late" not in {s.id for s in c.list_styles()}
            broken = tmp_path / "broken"
            broken.mkdir()
            (broken / "card.json").write_text("{not json")
            add_generator_entry(tmp_path, "late", seed=3)
            deadline = time.monotonic() + 10
            while "late" not in {s.id for s in c.list_styles()} and time.monotonic() < deadline:
                time.sleep(0.1)
            ids = {s.id for s in c.list_styles()}
            assert "late" in ids and "broken" not in ids
            rgb = np.zeros((16, 16, 3), np.uint8)
            replies = list(
                c.stub.Stylize(
                    iter([config("late"), frame(1, encode_view(rgb, pb.PIXEL_FORMAT_RGB8))])
                )
            )
            assert replies[-1].frame.style == "late" and replies[-1].frame.views
    finally:
        server.stop()


def test_shutdown_answers_in_flight_frames_then_ends_streams_with_unavailable(models_dir, photo):
    server = RunningServer(ServerConfig(port=0, models_dir=models_dir, device="cpu"))
    big = encode_view(np.ascontiguousarray(photo[:256, :256]), pb.PIXEL_FORMAT_RGB8)
    replies, sent = [], threading.Event()

    def requests():
        yield config("gen-a")
        yield frame(1, big)
        sent.set()
        time.sleep(30)  # keep the stream open; the server ends it

    with StylizerClient(server.address) as c:
        call = c.stub.Stylize(requests())
        sent.wait(10)
        time.sleep(0.05)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        with pytest.raises(grpc.RpcError) as e:
            for r in call:
                replies.append(r)
        stopper.join(30)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in e.value.details()
    frames = [r.frame for r in replies if r.HasField("frame")]
    assert [f.id for f in frames] == [1] and frames[0].views, "the frame in flight was answered"
