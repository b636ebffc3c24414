"""Load on loopback: 8 concurrent streams for a bounded time against `artem serve` in its own
process. Afterwards its resident memory is back within a small margin of where it started, no
stream starved, and the server's metrics count exactly what the clients saw."""

from __future__ import annotations

import os

import pytest
from artem_client.load import run_load
from hardening_util import ServeProcess, metric, scrape, wait_for

STREAMS = 8
SECONDS = float(os.environ.get("ARTEM_LOAD_SECONDS", "6"))
RSS_MARGIN = 24 << 20  # bytes: allocator noise, not per-frame growth (thousands of frames run)


@pytest.mark.slow
def test_eight_streams_then_memory_back_no_starvation_and_metrics_match(tmp_path, models_dir):
    server = ServeProcess(
        tmp_path / "serve",
        ["--models-dir", str(models_dir), "--metrics-port", "0", "--max-streams", str(STREAMS)],
    )
    try:
        rss_boot = server.rss_bytes()
        warm = run_load(
            server.address, STREAMS, 1.5, style="gen-a"
        )  # buffers, pools, first-frame costs
        assert not warm.errors, warm.errors
        wait_for(
            lambda: metric(scrape(server.metrics_port), "artem_streams") == 0,
            what="warm-up streams to close",
        )
        before = scrape(server.metrics_port)
        rss_start = server.rss_bytes()
        # Three frames in flight per stream: one in the model, one waiting, one that replaces it
        # (drops).
        result = run_load(
            server.address, STREAMS, SECONDS, style="gen-a", size=(64, 64), max_in_flight=3
        )
        wait_for(
            lambda: metric(scrape(server.metrics_port), "artem_streams") == 0,
            what="the streams to close",
        )
        rss_end = server.rss_bytes()
        after = scrape(server.metrics_port)
    finally:
        assert server.stop() == 0, server.output()[-3000:]
    served = [s.received for s in result.streams]
    print(
        f"\nload: {result.summary()}; server RSS boot {rss_boot / 2**20:.1f} MiB, start "
        f"{rss_start / 2**20:.1f} "
        f"MiB, end {rss_end / 2**20:.1f} MiB"
    )
    assert not result.errors, result.errors
    assert result.total("lost") == 0, "every frame sent was answered or reported dropped"
    mean = sum(served) / len(served)
    assert min(served) >= max(5, 0.5 * mean), f"a stream starved: {served}"
    delta = lambda name, **labels: metric(after, name, **labels) - metric(before, name, **labels)  # noqa: E731
    assert delta("artem_frames_total") == result.total("received")
    assert delta("artem_frames_dropped_total") == result.total("dropped")
    assert delta("artem_frames_received_total") == result.total("sent")
    assert delta("artem_streams_opened_total") == STREAMS
    assert sum(v for (name, _), v in after.items() if name == "artem_errors_total") == 0
    assert delta("artem_stage_seconds_count", stage="total") == result.total("received")
    assert rss_end <= rss_start + RSS_MARGIN, f"RSS grew {(rss_end - rss_start) / 2**20:.1f} MiB"
