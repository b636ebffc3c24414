"""Frames through shared memory against a real server: round trips, every refusal, and the
region's release however the stream ends (a killed client included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from multiprocessing import shared_memory
from pathlib import Path

import grpc
import numpy as np
import pytest
from artem_client.frames import from_rgb
from artem_protocol import shm as layout
from artem_protocol.rpc import pb

from artem_server.errors import PermissionDenied, status_of

FORMATS = [pb.PIXEL_FORMAT_RGBA8, pb.PIXEL_FORMAT_BGRA8, pb.PIXEL_FORMAT_RGB8]
BPP = {pb.PIXEL_FORMAT_RGBA8: 4, pb.PIXEL_FORMAT_BGRA8: 4, pb.PIXEL_FORMAT_RGB8: 3}
ROOT = Path(__file__).resolve().parent.parent


KEYS: dict[str, bytes] = {}  # region name -> the key in its header, as its client keeps it


@pytest.fixture()
def region():
    """A factory of client regions (header written unless told not to), unlinked afterwards."""
    made = []

    def make(
        slot_count: int = 2,
        slot_size: int = 4096 * 16,
        header: bool = True,
        size: int | None = None,
    ):
        lay = layout.Layout(slot_count, slot_size)
        shm = shared_memory.SharedMemory(create=True, size=size or lay.size)
        KEYS[shm.name.lstrip("/")] = key = layout.new_key()
        if header:
            shm.buf[: layout.HEADER.size] = lay.header(key)
        made.append(shm)
        return shm, lay

    yield make
    for shm in made:
        try:
            shm.close()
        except BufferError:
            pass  # a failed test's traceback still holds a view; the name goes anyway
        shm.unlink()


def registration(shm, lay: layout.Layout, **override) -> pb.SharedMemoryRegion:
    name = shm.name.lstrip("/")
    fields = dict(
        name=name, size=lay.size, slot_count=lay.slot_count, slot_size=lay.slot_size, key=KEYS[name]
    )
    fields.update(override)
    return pb.SharedMemoryRegion(**fields)


def config(reg: pb.SharedMemoryRegion | None, style: str = "identity") -> pb.StylizeRequest:
    c = pb.SessionConfig(style=style)
    if reg is not None:
        c.shared_memory.CopyFrom(reg)
    return pb.StylizeRequest(config=c)


def shm_frame(fid: int, *views: tuple[int, int, int, int, int]) -> pb.StylizeRequest:
    """views: (slot, offset, width, height, format)."""
    return pb.StylizeRequest(
        frame=pb.Frame(
            id=fid,
            views=[
                pb.View(
                    width=w,
                    height=h,
                    format=f,
                    color_space=pb.COLOR_SPACE_SRGB,
                    shm=pb.ShmPixels(slot=s, offset=o),
                )
                for s, o, w, h, f in views
            ],
        )
    )


def exchange(client, requests) -> list[pb.StylizeReply]:
    return list(client.stub.Stylize(iter(requests), timeout=60))


def mappings(name: str) -> int:
    """How many mappings of that shm segment this process has: the test server runs here, and
    so does the test's own client, whose mapping is one."""
    path = f"/dev/shm/{name.lstrip('/')}"
    return sum(line.endswith(path) for line in Path("/proc/self/maps").read_text().splitlines())


def wait_released(
    server, name: str | None = None, client_maps: int = 1, timeout: float = 10.0
) -> None:
    """Until the server holds no region called `name` (None: no region at all), nor maps it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = server.server.engine.regions.names()
        if (
            not names
            if name is None
            else name.lstrip("/") not in names and mappings(name) == client_maps
        ):
            return
        time.sleep(0.05)
    raise AssertionError(
        f"region {name!r} still registered or mapped after {timeout} s: "
        f"{server.server.engine.regions.names()}"
    )


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: pb.PixelFormat.Name(f))
@pytest.mark.parametrize("sizes", [[(37, 23)], [(64, 48), (64, 48)]], ids=["mono", "stereo"])
def test_identity_through_shm_is_exact(client, server, photo, fmt, sizes):
    frames = [
        [
            from_rgb(np.ascontiguousarray(photo[10 * k : 10 * k + h, 20 * i : 20 * i + w]), fmt)
            for i, (w, h) in enumerate(sizes)
        ]
        for k in range(4)
    ]
    got = {}
    stats = client.stream(
        iter(frames),
        "identity",
        fmt=fmt,
        transport="shm",
        max_in_flight=2,
        on_images=lambda i, imgs: got.__setitem__(i, [im.copy() for im in imgs]),
    )
    assert stats.received + stats.dropped == 4 and stats.received >= 1
    for i, images in got.items():
        assert len(images) == len(sizes)
        for sent, back in zip(frames[i], images):
            np.testing.assert_array_equal(back, sent)
    assert all(t > 0 for t in stats.server_transfer_ms), (
        "the identity copy into the reply slot is transfer time"
    )
    wait_released(server)  # the client's region is unregistered once its stream ends


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: pb.PixelFormat.Name(f))
def test_a_model_writes_the_reply_slot_as_inline_would(client, photo, fmt):
    """gen-a through shm gives the very pixels inline gives (the reply slot is written fully)."""
    eyes = [
        from_rgb(np.ascontiguousarray(photo[:40, :56]), fmt),
        from_rgb(np.ascontiguousarray(photo[50:90, :56]), fmt),
    ]
    out = {}
    for transport in ("inline", "shm"):
        client.stream(
            iter([eyes]),
            "gen-a",
            fmt=fmt,
            transport=transport,
            on_images=lambda i, imgs, t=transport: out.__setitem__(t, [im.copy() for im in imgs]),
        )
    for a, b in zip(out["inline"], out["shm"]):
        np.testing.assert_array_equal(a, b)


def test_padded_rows_at_an_offset_come_back_in_the_reply_slot(client, server, region, photo):
    """A view with row padding at a non-zero offset: the reply lies at the same offset, stride."""
    shm, lay = region()
    w, h, stride, offset = 30, 20, 30 * 4 + 64, 128
    img = from_rgb(np.ascontiguousarray(photo[:h, :w]), pb.PIXEL_FORMAT_RGBA8)
    req = np.ndarray((h, stride), np.uint8, shm.buf, lay.request_offset(1) + offset)
    req[:, : w * 4] = img.reshape(h, w * 4)
    view = pb.View(
        width=w,
        height=h,
        format=pb.PIXEL_FORMAT_RGBA8,
        row_stride=stride,
        shm=pb.ShmPixels(slot=1, offset=offset),
    )
    replies = exchange(
        client,
        [config(registration(shm, lay)), pb.StylizeRequest(frame=pb.Frame(id=5, views=[view]))],
    )
    assert replies[0].session.shared_memory == shm.name.lstrip("/")
    (f,) = [r.frame for r in replies if r.WhichOneof("kind") == "frame"]
    assert not replies[1].HasField("error"), replies[1].error.message
    v = f.views[0]
    assert (v.WhichOneof("pixels"), v.shm.slot, v.shm.offset, v.row_stride) == (
        "shm",
        1,
        offset,
        stride,
    )
    back = np.ndarray((h, stride), np.uint8, shm.buf, lay.reply_offset(1) + offset)[:, : w * 4]
    np.testing.assert_array_equal(back.reshape(h, w, 4), img)
    del req, back
    wait_released(server, shm.name)


# -- refusals ---------------------------------------------------------------------------------
def refused(client, requests) -> pb.Status:
    replies = exchange(client, requests)
    errors = [r.error for r in replies if r.HasField("error")]
    assert errors, f"no refusal in {replies}"
    return errors[0]


@pytest.mark.parametrize(
    "case, field",
    [
        ("missing", "config.shared_memory.name"),
        ("bad-name", "config.shared_memory.name"),
        ("smaller-than-registered", "config.shared_memory.size"),
        ("size-short-of-layout", "config.shared_memory.size"),
        ("slot-size-unaligned", "config.shared_memory.slot_size"),
        ("no-slots", "config.shared_memory.slot_count"),
        ("no-header", "config.shared_memory"),
    ],
)
def test_a_bad_region_is_invalid_argument_naming_the_field(client, region, case, field):
    shm, lay = region(header=case != "no-header")
    reg = {
        "missing": registration(shm, lay, name="artem-no-such-region-" + os.urandom(4).hex()),
        "bad-name": registration(shm, lay, name="../etc/passwd"),
        "smaller-than-registered": registration(
            shm, lay, slot_count=4, size=layout.Layout(4, lay.slot_size).size
        ),
        "size-short-of-layout": registration(shm, lay, size=lay.size - 1),
        "slot-size-unaligned": registration(shm, lay, slot_size=1000),
        "no-slots": registration(shm, lay, slot_count=0),
        "no-header": registration(shm, lay),
    }[case]
    err = refused(client, [config(reg)])
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert field in err.message, err.message


@pytest.mark.parametrize(
    "case, code, field",
    [
        ("slot-out-of-range", grpc.StatusCode.INVALID_ARGUMENT, "frame.views[0].shm.slot"),
        ("offset-unaligned", grpc.StatusCode.INVALID_ARGUMENT, "frame.views[0].shm.offset"),
        ("does-not-fit", grpc.StatusCode.INVALID_ARGUMENT, "frame.views[0].shm"),
        ("overlap", grpc.StatusCode.INVALID_ARGUMENT, "frame.views[1].shm overlaps"),
        ("too-big", grpc.StatusCode.RESOURCE_EXHAUSTED, "frame.views[0].shm"),
    ],
)
def test_a_bad_slot_is_refused_naming_the_field(client, server, region, case, code, field):
    big = 4096 * 1200  # a slot larger than the test server's 4 MiB frame limit
    shm, lay = region(slot_count=2, slot_size=big if case == "too-big" else 4096 * 16)
    rgba = pb.PIXEL_FORMAT_RGBA8
    views = {
        "slot-out-of-range": [(2, 0, 8, 8, rgba)],
        "offset-unaligned": [(0, 32, 8, 8, rgba)],
        "does-not-fit": [(0, 4096 * 15, 64, 64, rgba)],
        "overlap": [(0, 0, 16, 16, rgba), (0, 512, 16, 16, rgba)],
        "too-big": [(0, 0, 1100, 1000, rgba)],
    }[case]
    err = refused(client, [config(registration(shm, lay)), shm_frame(1, *views)])
    assert err.code == code.value[0], err.message
    assert field in err.message, err.message
    wait_released(server, shm.name)


def test_a_shm_view_without_a_registered_region_is_refused(client):
    err = refused(client, [config(None), shm_frame(1, (0, 0, 8, 8, pb.PIXEL_FORMAT_RGBA8))])
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "frame.views[0].shm" in err.message and "config.shared_memory" in err.message


def test_a_region_another_stream_holds_is_permission_denied(client, server, region):
    assert status_of(PermissionDenied("x"))[0] == grpc.StatusCode.PERMISSION_DENIED
    shm, lay = region()
    reg = registration(shm, lay)
    done = threading.Event()

    def holding():
        yield config(reg)
        done.wait(60)  # keeps the first stream open

    holder = client.stub.Stylize(holding(), timeout=60)
    assert next(holder).session.shared_memory == reg.name  # the first stream holds it now
    try:
        err = refused(client, [config(reg)])
        assert err.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
        assert "config.shared_memory.name" in err.message
    finally:
        holder.cancel()
        done.set()
    wait_released(server, shm.name)
    replies = exchange(client, [config(reg)])  # free again once the holder is gone
    assert not replies[0].HasField("error") and replies[0].session.shared_memory == reg.name
    wait_released(server, shm.name)


def test_a_new_region_replaces_the_old_one_mid_stream(client, server, region):
    (a, lay_a), (b, lay_b) = region(), region(slot_count=1)
    rgba = pb.PIXEL_FORMAT_RGBA8
    np.ndarray((8, 8, 4), np.uint8, b.buf, lay_b.request_offset(0))[:] = 77
    replies = exchange(
        client,
        [
            config(registration(a, lay_a)),
            config(registration(b, lay_b)),
            shm_frame(1, (0, 0, 8, 8, rgba)),
        ],
    )
    assert [r.session.shared_memory for r in replies[:2]] == [
        a.name.lstrip("/"),
        b.name.lstrip("/"),
    ]
    assert not replies[2].HasField("error"), replies[2].error.message
    assert (np.ndarray((8, 8, 4), np.uint8, b.buf, lay_b.reply_offset(0)) == 77).all()
    wait_released(server, a.name)
    wait_released(server, b.name)


# -- a client that vanishes -------------------------------------------------------------------
CLIENT = textwrap.dedent("""
    import sys, time
    import numpy as np
    from artem_client import StylizerClient

    frames = (np.full((64, 64, 4), i % 256, np.uint8) for i in range(10**9))
    def started(i, images):
        if i == 0:
            print("streaming", flush=True)
    with StylizerClient(sys.argv[1]) as c:
        c.stream(([f] for f in frames), "identity", transport="shm", on_images=started)
""")


def test_a_killed_client_leaves_no_region_mapped(server):
    proc = subprocess.Popen(
        [sys.executable, "-c", CLIENT, server.address], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    names: list[str] = []
    try:
        assert proc.stdout.readline().strip() == "streaming"
        names = server.server.engine.regions.names()
        assert len(names) == 1 and mappings(names[0]) == 1, names
        proc.send_signal(signal.SIGKILL)  # no goodbye: the server learns from the dead connection
        proc.wait(10)
        wait_released(server, names[0], client_maps=0)
    finally:
        if proc.poll() is None:
            proc.kill()
        for name in names:
            try:  # the dead client's resource tracker normally unlinks it; make sure
                shared_memory.SharedMemory(name).unlink()
            except FileNotFoundError:
                pass


@pytest.mark.parametrize("transport", ["inline", "shm", "jpeg"])
def test_artem_client_streams_by_each_transport(server, tmp_path, capsys, transport):
    from artem_server.cli import main

    out = tmp_path / "out"
    assert (
        main(
            [
                "client",
                "--server",
                server.address,
                "--style",
                "identity",
                "--frames",
                "3",
                "--size",
                "64x48",
                "--stereo",
                "--transport",
                transport,
                "--jpeg-quality",
                "80",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert f"transport {transport}" in capsys.readouterr().out
    assert len(list(out.glob("frame_*_left.png"))) + len(list(out.glob("frame_*_right.png"))) >= 2
    wait_released(server)
