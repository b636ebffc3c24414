"""Frames drawn straight into their requests (StylizerClient.stream_into) against a real
server: what is drawn comes back, for every transport, and inline requests reuse their bytes."""

from __future__ import annotations

import numpy as np
import pytest
from artem_client.frames import from_rgb
from artem_protocol.rpc import pb

FORMATS = [pb.PIXEL_FORMAT_RGBA8, pb.PIXEL_FORMAT_RGB8]


def scene(
    photo: np.ndarray, index: int, sizes: list[tuple[int, int]], fmt: int
) -> list[np.ndarray]:
    """Frame `index`: a crop of the photo per view that moves from frame to frame."""
    y, x = 7 * index, 5 * index
    return [
        from_rgb(np.ascontiguousarray(photo[y + 40 * v : y + 40 * v + h, x : x + w]), fmt)
        for v, (w, h) in enumerate(sizes)
    ]


@pytest.mark.parametrize("transport", ["inline", "shm"])
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: pb.PixelFormat.Name(f))
@pytest.mark.parametrize("sizes", [[(37, 23)], [(64, 48), (64, 48)]], ids=["mono", "stereo"])
@pytest.mark.parametrize("in_flight", [1, 2])
def test_what_is_drawn_into_the_request_comes_back(client, photo, transport, fmt, sizes, in_flight):
    frames = 6
    got, replies = {}, {}

    def render(index: int, targets: list[np.ndarray]) -> bool:
        if index == frames:
            return False
        assert [t.shape for t in targets] == [
            (h, w, 4 if fmt == pb.PIXEL_FORMAT_RGBA8 else 3) for w, h in sizes
        ]
        for t, img in zip(targets, scene(photo, index, sizes, fmt)):
            t[...] = img
        return True

    stats = client.stream_into(
        render,
        [(h, w) for w, h in sizes],
        "identity",
        fmt=fmt,
        transport=transport,
        max_in_flight=in_flight,
        on_images=lambda i, imgs: got.__setitem__(i, [im.copy() for im in imgs]),
        on_frame=lambda i, f: replies.__setitem__(i, f),
    )
    assert stats.sent == frames and stats.received + stats.dropped == frames and got
    for i, images in got.items():
        assert replies[i].id == i and replies[i].capture_time_us > 0
        for back, drawn in zip(images, scene(photo, i, sizes, fmt)):
            np.testing.assert_array_equal(back, drawn)


def test_inline_requests_reuse_their_bytes_and_keep_what_was_drawn(client, photo):
    """A renderer that draws a still frame only into buffers it has not drawn before gets every
    frame back whole: the client reuses a few request buffers, and they keep their pixels."""
    sizes = [(96, 64), (96, 64)]
    still = scene(photo, 3, sizes, pb.PIXEL_FORMAT_RGBA8)
    drawn: dict[
        int, np.ndarray
    ] = {}  # buffer address -> a view of it, kept so no other buffer takes it

    def render(index: int, targets: list[np.ndarray]) -> bool:
        where = targets[0].__array_interface__["data"][0]
        if where not in drawn:
            for t, img in zip(targets, still):
                t[...] = img
            drawn[where] = targets[0]
        return index < 20

    wrong = []

    def check(index: int, images: list[np.ndarray]) -> None:
        if not all(np.array_equal(a, b) for a, b in zip(images, still)):
            wrong.append(index)

    stats = client.stream_into(render, [(h, w) for w, h in sizes], "identity", on_images=check)
    assert stats.received == 20 and not wrong
    assert len(drawn) <= 3, f"{len(drawn)} request buffers for 20 frames, one in flight"


def test_jpeg_draws_into_the_encoders_input(client, photo):
    sizes = [(128, 96)]
    frame = scene(photo, 1, sizes, pb.PIXEL_FORMAT_RGB8)
    got = []

    def render(index: int, targets: list[np.ndarray]) -> bool:
        targets[0][...] = frame[0]
        return index < 2

    client.stream_into(
        render,
        [(96, 128)],
        "identity",
        fmt=pb.PIXEL_FORMAT_RGB8,
        transport="jpeg",
        jpeg_quality=95,
        on_images=lambda i, imgs: got.append(imgs[0].astype(np.float64)),
    )
    mse = np.mean((got[-1] - frame[0]) ** 2)
    assert len(got) == 2 and 10 * np.log10(255**2 / mse) > 30


def test_without_cpythons_c_api_frames_are_drawn_on_a_canvas_and_copied_in(
    client, photo, monkeypatch
):
    from artem_protocol import fresh_bytes

    monkeypatch.setattr(fresh_bytes, "available", lambda: False)
    sizes = [(40, 30)]
    got = {}

    def render(index: int, targets: list[np.ndarray]) -> bool:
        if index == 3:
            return False
        targets[0][...] = scene(photo, index, sizes, pb.PIXEL_FORMAT_RGBA8)[0]
        return True

    client.stream_into(
        render, [(30, 40)], "identity", on_images=lambda i, imgs: got.__setitem__(i, imgs[0].copy())
    )
    assert sorted(got) == [0, 1, 2]
    for i, back in got.items():
        np.testing.assert_array_equal(back, scene(photo, i, sizes, pb.PIXEL_FORMAT_RGBA8)[0])


def test_inline_keeps_request_buffers_only_for_the_frame_size_now_sent(photo):
    """A source whose frames change size (a folder of photographs) does not pile up a frame-sized
    buffer for every size it has sent: those of an earlier size are let go."""
    import gc
    import weakref

    from artem_client import transports
    from artem_protocol import wire

    inline = transports.Inline([(30, 40, 4)])
    small, large = (scene(photo, 0, [(w, 30)], pb.PIXEL_FORMAT_RGBA8) for w in (40, 80))
    first = inline.request(0, small, pb.PIXEL_FORMAT_RGBA8, False)
    wire.encode_request(first)  # sent: gRPC has its bytes and lets go of them
    was = weakref.ref(first.in_place)
    again = inline.request(1, small, pb.PIXEL_FORMAT_RGBA8, False)
    assert again.in_place is was()  # the same size reuses its buffer
    wire.encode_request(again)
    del first, again
    inline.request(2, large, pb.PIXEL_FORMAT_RGBA8, False)
    gc.collect()
    assert was() is None
