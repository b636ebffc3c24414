"""Stylize streams against a real server on loopback: round trips, formats, colour, sessions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from artem_client.frames import decode_view, encode_view, from_rgb
from artem_protocol.rpc import pb
from conftest import random_generator

from artem_server.models.generator import Generator
from artem_server.pipeline import pad_to_multiple

FORMATS = [pb.PIXEL_FORMAT_RGBA8, pb.PIXEL_FORMAT_BGRA8, pb.PIXEL_FORMAT_RGB8]


def config(style: str, strength: float | None = None) -> pb.StylizeRequest:
    c = pb.SessionConfig(style=style)
    if strength is not None:
        c.strength = strength
    return pb.StylizeRequest(config=c)


def frame(fid: int, *views: pb.View) -> pb.StylizeRequest:
    return pb.StylizeRequest(frame=pb.Frame(id=fid, capture_time_us=1000 + fid, views=list(views)))


def exchange(client, requests) -> list[pb.StylizeReply]:
    """Send all requests, half-close, and collect every reply until the server ends the stream."""
    return list(client.stub.Stylize(iter(requests), timeout=120))


def lockstep(client, requests) -> list[pb.StylizeReply]:
    """Send each request only after the previous one's reply: nothing is dropped."""
    import queue

    got: queue.Queue = queue.Queue()

    def gen():
        for req in requests:
            yield req
            got.get(timeout=120)

    replies = []
    for reply in client.stub.Stylize(gen(), timeout=120):
        replies.append(reply)
        got.put(reply)
    return replies


def frames_of(replies) -> list[pb.StylizedFrame]:
    return [r.frame for r in replies if r.WhichOneof("kind") == "frame"]


def crop(photo: np.ndarray, w: int, h: int, x: int = 100, y: int = 80) -> np.ndarray:
    return np.ascontiguousarray(photo[y : y + h, x : x + w])


def srgb_to_linear_u8(rgb: np.ndarray) -> np.ndarray:
    x = np.asarray(rgb, dtype=np.float64) / 255
    lin = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return np.round(lin * 255).astype(np.uint8)


def linear_to_srgb_f(lin_u8: np.ndarray) -> np.ndarray:
    x = lin_u8.astype(np.float64) / 255
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055) * 255


def reference_stylize(net: Generator, rgb: np.ndarray, rounded: bool = True) -> np.ndarray:
    """What the generator should return for an sRGB image (0..255): pad, run, crop, clamp, round."""
    x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)[None]
    h, w = rgb.shape[:2]
    with torch.inference_mode():
        y = net(pad_to_multiple(x, 4, 16))[0, :, :h, :w].clamp(0, 255).permute(1, 2, 0).numpy()
    return np.round(y).astype(np.uint8) if rounded else y


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: pb.PixelFormat.Name(f))
@pytest.mark.parametrize("linear", [False, True], ids=["srgb", "linear"])
@pytest.mark.parametrize(
    "sizes", [[(37, 23)], [(31, 17), (31, 17)], [(5, 3), (9, 7)]], ids=["mono", "stereo", "tiny"]
)
def test_identity_round_trip_is_exact(client, photo, fmt, linear, sizes):
    """Every format and colour space comes back bit for bit through `identity`, alpha included."""
    views = [from_rgb(crop(photo, w, h, x=10 * i), fmt) for i, (w, h) in enumerate(sizes)]
    replies = exchange(
        client, [config("identity"), frame(7, *[encode_view(v, fmt, linear) for v in views])]
    )
    assert replies[0].session.style == "identity" and not replies[0].HasField("error")
    assert not any(r.HasField("error") for r in replies)
    (out,) = frames_of(replies)
    assert out.id == 7 and out.capture_time_us == 1007
    assert len(out.views) == len(views)
    for sent, got in zip(views, out.views):
        assert (got.width, got.height, got.format) == (sent.shape[1], sent.shape[0], fmt)
        assert got.color_space == (pb.COLOR_SPACE_LINEAR if linear else pb.COLOR_SPACE_SRGB)
        np.testing.assert_array_equal(decode_view(got), sent)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: pb.PixelFormat.Name(f))
def test_generator_output_matches_the_model_and_keeps_alpha(client, photo, fmt):
    rgb = crop(photo, 61, 45)  # odd sizes: padded to multiples of 4 and cropped back
    sent = from_rgb(rgb, fmt)
    (out,) = frames_of(exchange(client, [config("gen-a"), frame(1, encode_view(sent, fmt))]))
    got = decode_view(out.views[0])
    assert got.shape == sent.shape
    expected = reference_stylize(random_generator(1), rgb)
    rgb_got = got[..., ::-1][..., 1:] if fmt == pb.PIXEL_FORMAT_BGRA8 else got[..., :3]
    assert np.abs(rgb_got.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(rgb_got.astype(int) - rgb.astype(int)).mean() > 10, "style must change the image"
    if fmt != pb.PIXEL_FORMAT_RGB8:
        np.testing.assert_array_equal(got[..., 3], sent[..., 3])
    t = out.timings
    assert t.total_ms >= t.model_ms > 0 and t.queue_ms >= 0


def test_stereo_eyes_are_stylized_independently(client, photo):
    left, right = crop(photo, 40, 32, x=50), crop(photo, 40, 32, x=200)
    (out,) = frames_of(
        exchange(
            client,
            [
                config("gen-a"),
                frame(3, encode_view(from_rgb(left, 1)), encode_view(from_rgb(right, 1))),
            ],
        )
    )
    net = random_generator(1)
    for view, rgb in zip(out.views, (left, right)):
        assert (
            np.abs(
                decode_view(view)[..., :3].astype(int) - reference_stylize(net, rgb).astype(int)
            ).max()
            <= 1
        )


@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "joined"])
def test_inline_replies_are_the_same_built_in_place_or_joined(client, photo, monkeypatch, in_place):
    """On CPython the server writes inline reply pixels straight into the bytes gRPC sends;
    elsewhere it joins them into the message. The client sees the same frames either way."""
    from artem_protocol import fresh_bytes

    if not in_place:
        monkeypatch.setattr(fresh_bytes, "available", lambda: False)
    left, right = crop(photo, 40, 32, x=50), crop(photo, 41, 30, x=200)
    views = [from_rgb(left, pb.PIXEL_FORMAT_RGBA8), from_rgb(right, pb.PIXEL_FORMAT_RGBA8)]
    sent = [encode_view(v, pb.PIXEL_FORMAT_RGBA8) for v in views]
    (same,) = frames_of(exchange(client, [config("identity"), frame(1, *sent)]))
    (styled,) = frames_of(exchange(client, [config("gen-a"), frame(2, *sent)]))
    net = random_generator(1)
    for v, got, out, rgb in zip(views, same.views, styled.views, (left, right)):
        np.testing.assert_array_equal(decode_view(got), v)
        assert (
            np.abs(
                decode_view(out)[..., :3].astype(int) - reference_stylize(net, rgb).astype(int)
            ).max()
            <= 1
        )
        np.testing.assert_array_equal(decode_view(out)[..., 3], v[..., 3])
    assert (
        same.id == 1 and styled.id == 2 and styled.style == "gen-a" and styled.timings.model_ms > 0
    )


def test_linear_colour_is_stylized_in_srgb_and_returned_linear(client, photo):
    rgb = crop(photo, 48, 40)
    lin = srgb_to_linear_u8(rgb)
    (out,) = frames_of(
        exchange(
            client, [config("gen-a"), frame(1, encode_view(lin, pb.PIXEL_FORMAT_RGB8, linear=True))]
        )
    )
    assert out.views[0].color_space == pb.COLOR_SPACE_LINEAR
    expected_srgb = reference_stylize(random_generator(1), linear_to_srgb_f(lin), rounded=False)
    expected_lin = srgb_to_linear_u8(expected_srgb)
    assert np.abs(decode_view(out.views[0]).astype(int) - expected_lin.astype(int)).max() <= 1


def test_padded_rows_are_read_by_row_stride(client, photo):
    rgba = from_rgb(crop(photo, 30, 20), pb.PIXEL_FORMAT_RGBA8)
    (out,) = frames_of(
        exchange(
            client, [config("identity"), frame(1, encode_view(rgba, 1, row_stride=30 * 4 + 24))]
        )
    )
    np.testing.assert_array_equal(decode_view(out.views[0]), rgba)


def test_style_and_strength_change_mid_stream(client, photo):
    rgb = crop(photo, 32, 32)
    view = encode_view(rgb, pb.PIXEL_FORMAT_RGB8)
    replies = lockstep(
        client,
        [
            config("gen-a"),
            frame(1, view),
            config("gen-b"),
            frame(2, view),
            config("gen-b", strength=0.0),
            frame(3, view),
            config("gen-b", strength=0.5),
            frame(4, view),
        ],
    )
    sessions = [r.session for r in replies if r.WhichOneof("kind") == "session"]
    assert [(s.style, s.strength) for s in sessions] == [
        ("gen-a", 1.0),
        ("gen-b", 1.0),
        ("gen-b", 0.0),
        ("gen-b", 0.5),
    ]
    f1, f2, f3, f4 = frames_of(replies)
    assert (f1.style, f2.style) == ("gen-a", "gen-b")
    a, b, zero, half = (decode_view(f.views[0]).astype(int) for f in (f1, f2, f3, f4))
    assert np.abs(a - b).mean() > 5, "a different style gives a different picture"
    np.testing.assert_array_equal(zero, rgb)  # strength 0 gives the input back
    assert np.abs(half - (rgb + b) / 2).max() <= 1


def test_latest_frame_wins_under_a_fast_sender(client, photo):
    """Frames sent faster than the model runs are dropped, not queued; the counts add up and the
    newest frame is always answered."""
    view = encode_view(crop(photo, 256, 256, x=0, y=0), pb.PIXEL_FORMAT_RGB8)
    n = 12
    frames = frames_of(exchange(client, [config("gen-a")] + [frame(i, view) for i in range(n)]))
    answered = [f.id for f in frames]
    dropped = sum(f.dropped_frames for f in frames)
    assert answered == sorted(answered) and answered[-1] == n - 1
    assert dropped > 0 and len(answered) + dropped == n
