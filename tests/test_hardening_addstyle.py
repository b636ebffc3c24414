"""AddStyle's cost and its end: an image is judged by its header before it is decoded (a small
file may claim 40 megapixels, and the encoder's memory grows with every pixel it sees), and a
server told to stop while an add is encoding either answers it or stores nothing."""

from __future__ import annotations

import struct
import threading
import time
import zlib

import grpc
import numpy as np
import pytest
from artem_client import StylizerClient
from conftest import RunningServer
from hardening_util import ServeProcess, wait_for
from test_adain_service import png

from artem_server.server import ServerConfig
from artem_server.styles import StyleImageLimits

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says width x height and whose pixel data is junk: decoding it fails,
    so a refusal that names the size proves that nothing was decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"junk") + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = RunningServer(
        ServerConfig(port=0, models_dir=tmp_path_factory.mktemp("addstyle-models"), device="cpu")
    )
    yield s
    s.stop()


def test_the_issues_38_kb_bomb_is_refused_at_once(server):
    """6300x6300 zeros, 38 KB as PNG, with size=2048: was encoded at 2048x2048 (53-92 s, 4 GB)."""
    bomb = png(np.zeros((6300, 6300, 3), np.uint8))
    assert len(bomb) < 200_000
    with StylizerClient(server.address) as c:
        for size, says in (
            (2048, "size = 2048: expected 0 (the image's own size) or 16..1024"),
            (1024, "image is 6300x6300 = 39690000 pixels: more than this server decodes"),
            (None, "image is 6300x6300 = 39690000 pixels"),
        ):
            with pytest.raises(grpc.RpcError) as e:
                c.add_style("bomb", "adain-lite", bomb, size=size)
            assert e.value.code() == INVALID and says in e.value.details(), e.value.details()
        info = c.server_info()
        assert (info.max_style_decoded_pixels, info.max_style_pixels) == (24_000_000, 1024 * 1024)
    assert not (server.config.models_dir / "bomb").exists()


@pytest.mark.parametrize(
    "width,height,size,says",
    [
        (7000, 4000, None, "image is 7000x4000 = 28000000 pixels: more than this server decodes"),
        (5000, 4000, 1024, "would be encoded at 1280x1024 = 1310720 pixels"),
        (1100, 1000, None, "would be encoded at 1100x1000 = 1100000 pixels"),
    ],
)
def test_sizes_are_judged_from_the_header_before_decoding(server, width, height, size, says):
    with StylizerClient(server.address) as c, pytest.raises(grpc.RpcError) as e:
        c.add_style("big", "adain-lite", png_header_only(width, height), size=size)
    assert e.value.code() == INVALID and says in e.value.details(), e.value.details()
    assert "does not decode" not in e.value.details()  # nothing was decoded


def test_frames_are_served_while_add_style_encodes(server):
    """The encoder runs on AddStyle's own thread, not the model thread."""
    with StylizerClient(server.address) as c:
        done = threading.Event()
        noise = np.random.default_rng(1).integers(0, 256, (512, 512, 3), np.uint8)
        t = threading.Thread(
            target=lambda: (c.add_style("noise", "adain-lite", png(noise)), done.set()), daemon=True
        )
        t.start()
        from hardening_util import rgba_view
        from test_stream import config, exchange, frame, frames_of

        served = 0
        while not done.is_set() and served < 3:
            served += len(frames_of(exchange(c, [config("identity"), frame(served, rgba_view(8))])))
        assert served == 3 and not done.is_set(), "frames waited for the encoder"
        t.join(600)
        assert done.is_set()


def test_sigterm_during_add_style_answers_unavailable_and_stores_nothing(tmp_path):
    """The encoder is still busy when the grace (5 s) runs out: the client hears UNAVAILABLE
    with why, nothing is stored, and the process exits soon after the grace."""
    models = tmp_path / "models"
    models.mkdir()
    proc = ServeProcess(tmp_path / "serve", ["--models-dir", str(models)])
    noise = np.random.default_rng(2).integers(0, 256, (1024, 1024, 3), np.uint8)
    box: dict = {}

    def add() -> None:
        with StylizerClient(proc.address) as c:
            try:
                box["reply"] = c.add_style("late", "adain-lite", png(noise), timeout=300)
            except grpc.RpcError as e:
                box["error"] = e

    t = threading.Thread(target=add, daemon=True)
    t.start()
    try:
        wait_for(
            lambda: "encoding a 1024x1024 image" in proc.output(),
            timeout=120,
            what="the encoder to start",
        )
        started = time.monotonic()
        rc = proc.stop(timeout=60)
        took = time.monotonic() - started
        t.join(30)
    finally:
        proc.stop()
    assert rc == 0
    assert "error" in box, "the encoder finished within the grace on this machine: nothing to check"
    e = box["error"]
    assert e.code() == grpc.StatusCode.UNAVAILABLE and "was not stored" in e.details(), e.details()
    assert not (models / "late").exists() and list(models.iterdir()) == []
    assert took < 15, f"shutdown took {took:.1f} s with a 5 s grace"


def test_default_limits_match_what_server_info_reports():
    assert StyleImageLimits().max_size ** 2 == StyleImageLimits().max_style_pixels
