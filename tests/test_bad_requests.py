"""Bad requests get a status that names the field, the value and what was expected; the stream
and every other stream go on."""

from __future__ import annotations

import threading

import grpc
import numpy as np
import pytest
from artem_client import StylizerClient
from artem_client.frames import decode_view, encode_view
from artem_protocol.rpc import pb
from test_stream import config, exchange, frame, frames_of

INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]

GOOD = encode_view(np.full((8, 8, 4), 200, np.uint8), pb.PIXEL_FORMAT_RGBA8)


def view(**fields) -> pb.View:
    v = pb.View()
    v.CopyFrom(GOOD)
    for k, val in fields.items():
        setattr(v, k, val)
    return v


BAD_FRAMES = {
    "short data": (view(data=b"\0" * 255), INVALID, ["frame.views[0].data", "255 bytes", "256"]),
    "zero width": (view(width=0), INVALID, ["frame.views[0].width = 0", "positive"]),
    "negative height": (view(height=-4), INVALID, ["frame.views[0].height = -4", "positive"]),
    "unknown format": (view(format=9), INVALID, ["frame.views[0].format = 9", "RGBA8"]),
    "unspecified format": (view(format=0), INVALID, ["frame.views[0].format = 0"]),
    "stride too small": (view(row_stride=16), INVALID, ["frame.views[0].row_stride = 16", "32"]),
    "bad colour space": (view(color_space=7), INVALID, ["frame.views[0].color_space = 7"]),
    "no pixels": (pb.View(width=8, height=8, format=1), INVALID, ["frame.views[0]", "no pixels"]),
    "too wide": (
        view(width=100_000, data=b""),
        EXHAUSTED,
        ["frame.views[0].width = 100000", "8192"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_bad_view_is_refused_in_its_reply_and_the_stream_goes_on(client, name):
    bad, code, phrases = BAD_FRAMES[name]
    replies = exchange(client, [config("identity"), frame(1, bad), frame(2, GOOD)])
    errors = [r for r in replies if r.HasField("error")]
    assert len(errors) == 1 and errors[0].frame.id == 1
    assert errors[0].error.code == code
    for phrase in phrases:
        assert phrase in errors[0].error.message
    ok = [f for f in frames_of(replies) if f.views]
    assert [f.id for f in ok] == [2], "the next good frame is still served"


def test_frame_count_of_views(client):
    replies = exchange(client, [config("identity"), frame(1), frame(2, GOOD, GOOD, GOOD)])
    codes = [(r.frame.id, r.error.code) for r in replies if r.HasField("error")]
    assert codes == [(1, INVALID), (2, INVALID)]
    assert "frame.views has 3 views" in replies[-1].error.message


def test_frame_before_config(client):
    (reply,) = exchange(client, [frame(5, GOOD)])
    assert (
        reply.error.code == INVALID
        and "before any config" in reply.error.message
        and reply.frame.id == 5
    )


def test_unknown_style_keeps_the_session_as_it_was(client):
    replies = exchange(
        client, [config("identity"), config("no-such-style"), config("../../etc"), frame(1, GOOD)]
    )
    first, unknown, traversal = replies[:3]
    assert (
        unknown.error.code == NOT_FOUND and "config.style 'no-such-style'" in unknown.error.message
    )
    assert "identity" in unknown.error.message  # lists what exists
    assert traversal.error.code == NOT_FOUND and "'../../etc'" in traversal.error.message
    assert unknown.session.style == "identity"  # still in force
    (f,) = frames_of(replies)
    assert f.style == "identity" and f.views


@pytest.mark.parametrize("value", [1.5, -0.1, float("nan")])
def test_strength_out_of_range(client, value):
    (reply,) = exchange(client, [config("identity", strength=value)])
    assert (
        reply.error.code == INVALID
        and "config.strength" in reply.error.message
        and "[0, 1]" in reply.error.message
    )


def test_empty_request(client):
    (reply,) = exchange(client, [pb.StylizeRequest()])
    assert reply.error.code == INVALID


def test_frame_over_the_configured_size_limit(client, server):
    limit = server.config.limits.max_frame_bytes
    side = 1100  # 1100 x 1100 RGBA = 4.84 MB > the 4 MiB this test server allows
    big = encode_view(np.zeros((side, side, 4), np.uint8), pb.PIXEL_FORMAT_RGBA8)
    (reply,) = [
        r for r in exchange(client, [config("identity"), frame(1, big)]) if r.HasField("frame")
    ]
    assert reply.error.code == EXHAUSTED and str(limit) in reply.error.message
    assert not reply.frame.views


def test_message_over_the_transport_limit_ends_the_call_with_resource_exhausted(client, server):
    huge = server.config.limits.transport_message_bytes() + 1024
    req = frame(1, pb.View(width=1, height=1, format=1, data=b"\0" * huge))
    with pytest.raises(grpc.RpcError) as e:
        exchange(client, [config("identity"), req])
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert str(server.config.limits.transport_message_bytes()) in e.value.details()


def test_a_bad_stream_does_not_disturb_another(server, photo):
    """One client streams good frames while another sends garbage; the first sees no error."""
    good = np.ascontiguousarray(photo[:64, :64])
    results = {}

    def steady():
        with StylizerClient(server.address) as c:
            results["stats"] = c.stream(
                ([good] for _ in range(15)), "gen-a", fmt=pb.PIXEL_FORMAT_RGB8
            )

    t = threading.Thread(target=steady)
    t.start()
    with StylizerClient(server.address) as bad_client:
        for _ in range(5):
            exchange(
                bad_client,
                [
                    frame(1, GOOD),
                    config("nope"),
                    config("identity"),
                    frame(2, view(width=-1)),
                    frame(3, view(data=b"x")),
                ],
            )
    t.join(120)
    assert results["stats"].received == 15 and results["stats"].dropped == 0
    with StylizerClient(server.address) as c:
        (f,) = frames_of(exchange(c, [config("identity"), frame(9, GOOD)]))
        np.testing.assert_array_equal(decode_view(f.views[0]), decode_view(GOOD))
