"""Observability: the Prometheus endpoint counts what clients saw (frames, drops, errors by
code, per-stage latency, streams), reports process and device memory, and every log line of a
stream carries the id the client got in the call's metadata."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import torch
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from conftest import RunningServer
from hardening_util import BlockingModel, metric, rgba_view, scrape
from test_stream import config, exchange, frame, frames_of, lockstep

from artem_server.logs import JsonFormatter, StreamIdFilter
from artem_server.metrics import DeviceMemoryCollector
from artem_server.server import ServerConfig
from artem_server.stream_guard import REPLICA_KEY, STREAM_KEY


@pytest.fixture(scope="module")
def server(models_dir):
    s = RunningServer(
        ServerConfig(
            port=0, models_dir=models_dir, device="cpu", metrics_port=0, replica="replica-a"
        )
    )
    yield s
    s.stop()


def test_metrics_count_what_the_clients_saw(server):
    blocking = server.server.registry.register("blocking", BlockingModel()).model
    with StylizerClient(server.address) as c:
        good = frames_of(
            lockstep(c, [config("gen-a")] + [frame(i, rgba_view(16)) for i in range(3)])
        )
        unknown_format = pb.View(width=8, height=8, format=9, data=bytes(256))
        bad = exchange(c, [config("gen-a"), frame(7, unknown_format), config("no-such-style")])

        def requests():
            yield config("blocking")
            yield frame(1, rgba_view(8))
            assert blocking.entered.wait(30)
            for i in (2, 3, 4):  # 2 and 3 are replaced while 1 is in the model: latest frame wins
                yield frame(i, rgba_view(8))
            time.sleep(0.3)
            blocking.release.set()

        dropping = frames_of(list(c.stub.Stylize(requests(), timeout=60)))
    assert (
        len(good) == 3
        and [f.id for f in dropping] == [1, 4]
        and sum(f.dropped_frames for f in dropping) == 2
    )
    assert [r.error.code for r in bad if r.HasField("error")] == [3, 5]
    m = scrape(server.server.metrics_port)
    assert metric(m, "artem_frames_total") == 5
    assert metric(m, "artem_frames_received_total") == 3 + 1 + 4
    assert metric(m, "artem_frames_dropped_total") == 2
    assert metric(m, "artem_errors_total", code="INVALID_ARGUMENT") == 1
    assert metric(m, "artem_errors_total", code="NOT_FOUND") == 1
    for stage in ("queue", "convert", "model", "transfer", "total"):
        assert metric(m, "artem_stage_seconds_count", stage=stage) == 5
    assert metric(m, "artem_stage_seconds_sum", stage="total") > 0
    assert metric(m, "artem_stage_seconds_bucket", stage="model", le="+Inf") == 5
    assert metric(m, "artem_streams_opened_total") == 3 and metric(m, "artem_streams") == 0
    assert metric(m, "artem_serving") == 1
    assert metric(m, "process_resident_memory_bytes") > 50e6


def test_stream_log_lines_carry_the_id_the_client_got_in_metadata(server):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    handler.addFilter(StreamIdFilter())
    logger = logging.getLogger("artem_server")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        with StylizerClient(server.address) as c:
            call = c.stub.Stylize(iter([config("gen-a"), frame(1, rgba_view(16))]), timeout=60)
            replies = list(call)
            metadata = dict(call.initial_metadata())
        time.sleep(0.2)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert frames_of(replies)[0].views and metadata[REPLICA_KEY] == "replica-a"
    closed = [r for r in records if r.getMessage().startswith("stream closed")]
    assert [r.stream_id for r in closed] == [metadata[STREAM_KEY]]
    line = json.loads(JsonFormatter().format(closed[0]))
    assert (
        line["stream_id"] == metadata[STREAM_KEY]
        and line["level"] == "INFO"
        and "1 frames in" in line["msg"]
    )


def test_concurrent_streams_get_distinct_ids(server):
    ids: list[str] = []

    def one() -> None:
        with StylizerClient(server.address) as c:
            call = c.stub.Stylize(iter([config("identity"), frame(1, rgba_view(8))]), timeout=60)
            list(call)
            ids.append(dict(call.initial_metadata())[STREAM_KEY])

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(set(ids)) == 4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_device_memory_is_reported_on_cuda():
    device = torch.device("cuda")
    x = torch.empty(64 << 20, dtype=torch.uint8, device=device)  # 64 MiB allocated
    (family,) = list(DeviceMemoryCollector(device).collect())
    values = {s.labels["kind"]: s.value for s in family.samples}
    assert values["allocated"] >= x.numel() and values["reserved"] >= values["allocated"]
    assert 0 < values["free"] < values["total"]
