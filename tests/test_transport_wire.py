"""artem_protocol.wire: the zero-copy coding of Stylize messages agrees with protobuf's own."""

from __future__ import annotations

import numpy as np
import pytest
from artem_protocol import wire
from artem_protocol.rpc import pb


def frame_request(*views: pb.View, fid: int = 9) -> pb.StylizeRequest:
    return pb.StylizeRequest(frame=pb.Frame(id=fid, capture_time_us=123456789, views=list(views)))


def view(**pixels) -> pb.View:
    return pb.View(
        width=3,
        height=2,
        format=pb.PIXEL_FORMAT_RGB8,
        color_space=pb.COLOR_SPACE_LINEAR,
        row_stride=12,
        **pixels,
    )


def restored(m: wire.Message) -> pb.StylizeRequest:
    """The message with its pixels put back, as protobuf would have parsed it."""
    msg = type(m.msg)()
    msg.CopyFrom(m.msg)
    for v, px in zip(msg.frame.views, m.pixels):
        if px is not None:
            setattr(v, v.WhichOneof("pixels"), bytes(px))
    return msg


CASES = {
    "inline": frame_request(view(data=bytes(range(22)))),
    "stereo-mixed": frame_request(
        view(data=b"\x01" * 24),
        view(shm=pb.ShmPixels(slot=1, offset=64)),
        view(jpeg=b"\xff\xd8jpeg"),
    ),
    "config": pb.StylizeRequest(config=pb.SessionConfig(style="x", strength=0.5, jpeg_quality=70)),
    "empty-frame": pb.StylizeRequest(frame=pb.Frame()),
    "big-varints": frame_request(view(data=b"z" * 70000), fid=2**63 + 5),
}


@pytest.mark.parametrize("name", CASES)
def test_decode_request_agrees_with_protobuf(name):
    data = CASES[name].SerializeToString()
    m = wire.decode_request(data)
    assert restored(m) == pb.StylizeRequest.FromString(data)


def test_inline_pixels_are_views_of_the_received_bytes():
    data = CASES["stereo-mixed"].SerializeToString()
    m = wire.decode_request(data)
    assert isinstance(m.pixels[0], memoryview) and m.pixels[0].obj is data  # no copy
    assert m.pixels[1] is None and m.msg.frame.views[1].shm.offset == 64
    assert [v.WhichOneof("pixels") for v in m.msg.frame.views] == ["data", "shm", "jpeg"]


def test_unusual_encodings_still_parse_as_protobuf_does():
    """Fields out of order, a oneof set twice (last wins), a frame sent in two parts (merged),
    a config after a frame (the request's oneof: the config wins)."""
    reordered = (
        pb.Frame(views=[view(data=b"ab")]).SerializeToString() + pb.Frame(id=4).SerializeToString()
    )
    last_wins = (
        pb.View(data=b"old").SerializeToString()
        + pb.View(shm=pb.ShmPixels(slot=3)).SerializeToString()
    )
    inner = reordered + pb.Frame(views=[pb.View.FromString(last_wins)]).SerializeToString()
    one = b"\x12" + wire._encode_varint(len(inner)) + inner
    two = one + frame_request(view(data=b"cd"), fid=5).SerializeToString()  # merges into the first
    config_last = one + CASES["config"].SerializeToString()  # the oneof's last member wins: config
    assert pb.StylizeRequest.FromString(config_last).WhichOneof("kind") == "config"
    for data in (one, two, config_last):
        assert restored(wire.decode_request(data)) == pb.StylizeRequest.FromString(data)


def test_encode_reply_is_the_protobuf_message():
    px = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    strided = np.lib.stride_tricks.as_strided(np.arange(64, dtype=np.uint8), (2, 3, 4), (32, 4, 1))
    frame = pb.StylizedFrame(
        id=1,
        style="s",
        dropped_frames=2,
        timings=pb.Timings(model_ms=1.5, transfer_ms=0.25),
        views=[
            pb.View(width=3, height=2, data=b""),
            pb.View(shm=pb.ShmPixels(slot=1)),
            pb.View(width=3, height=2, data=b""),
            pb.View(jpeg=b""),
        ],
    )
    reply = pb.StylizeReply(frame=frame, error=pb.Status(code=3, message="m"))
    data = wire.encode_reply(wire.Message(reply, [px, None, strided, b"\xff\xd8"]))
    expected = pb.StylizeReply()
    expected.CopyFrom(reply)
    expected.frame.views[0].data = px.tobytes()
    expected.frame.views[2].data = np.ascontiguousarray(strided).tobytes()
    expected.frame.views[3].jpeg = b"\xff\xd8"
    assert pb.StylizeReply.FromString(data) == expected
    back = wire.decode_reply(data)
    assert bytes(back.pixels[0]) == px.tobytes() and back.pixels[1] is None


def test_encode_request_round_trips_through_decode_request():
    px = np.random.default_rng(0).integers(0, 256, (5, 7, 4), dtype=np.uint8)
    msg = frame_request(pb.View(width=7, height=5, format=pb.PIXEL_FORMAT_RGBA8, data=b""))
    m = wire.decode_request(wire.encode_request(wire.Message(msg, [px])))
    assert bytes(m.pixels[0]) == px.tobytes() and m.msg == msg
    assert wire.encode_request(CASES["config"]) == CASES["config"].SerializeToString()


def test_large_pixel_buffers_are_joined_whole(monkeypatch):
    """Frame-sized pixels are copied into the message by several threads (or joined where the
    interpreter has no CPython C API): the same bytes either way."""
    from artem_protocol import fresh_bytes

    rng = np.random.default_rng(1)
    eyes = [
        rng.integers(0, 256, (1100, 1000, 4), dtype=np.uint8) for _ in range(2)
    ]  # over 4 MiB each
    views = [pb.View(width=1000, height=1100, format=pb.PIXEL_FORMAT_RGBA8, data=b"") for _ in eyes]
    expected = frame_request(
        *[
            pb.View(width=1000, height=1100, format=pb.PIXEL_FORMAT_RGBA8, data=e.tobytes())
            for e in eyes
        ]
    ).SerializeToString()
    message = wire.Message(frame_request(*views), list(eyes))
    assert wire.encode_request(message) == expected
    monkeypatch.setattr(fresh_bytes, "available", lambda: False)
    assert wire.encode_request(message) == expected


def in_place_reply(
    style: str, shapes: list[tuple[int, int, int]]
) -> tuple[pb.StylizedFrame, wire.InPlaceFrame]:
    fmt = {3: pb.PIXEL_FORMAT_RGB8, 4: pb.PIXEL_FORMAT_BGRA8}
    views = [
        pb.View(
            width=w,
            height=h,
            format=fmt[c],
            color_space=pb.COLOR_SPACE_SRGB,
            row_stride=w * c,
            data=b"",
        )
        for h, w, c in shapes
    ]
    frame = pb.StylizedFrame(id=2**40 + 3, capture_time_us=-5, style=style, views=views)
    return frame, wire.InPlaceFrame(pb.StylizeReply, frame, shapes)


@pytest.mark.parametrize("style", ["", "tessera", "mix:" + "x" * 300])
@pytest.mark.parametrize("late", ["unset", "typical", "largest"])
def test_in_place_reply_is_the_protobuf_message(style, late):
    """Pixels written where the reply is sent from, and the fields filled in afterwards, make
    the message protobuf itself would make (plus zeros in `pad`), whatever room they take."""
    shapes = [(2, 3, 4), (5, 7, 3)]
    frame, reply = in_place_reply(style, shapes)
    rng = np.random.default_rng(2)
    pixels = [rng.integers(0, 256, s, dtype=np.uint8) for s in shapes]
    for dst, px in zip(reply.arrays, pixels):
        dst[...] = px
    if late == "typical":
        frame.timings.CopyFrom(pb.Timings(queue_ms=0.5, model_ms=7.25, total_ms=9.0))
        frame.dropped_frames = 3
    elif late == "largest":
        frame.timings.CopyFrom(
            pb.Timings(
                queue_ms=1e30, convert_ms=-1e-30, model_ms=3.0, total_ms=4.0, transfer_ms=5.0
            )
        )
        frame.dropped_frames = 2**32 - 1
    data = wire.encode_reply(wire.Message(pb.StylizeReply(frame=frame), [], reply))

    expected = pb.StylizeReply(frame=frame)
    for v, px in zip(expected.frame.views, pixels):
        v.data = px.tobytes()
    parsed = pb.StylizeReply.FromString(data)
    assert parsed.pad == bytes(len(parsed.pad))
    parsed.ClearField("pad")
    assert parsed == expected
    assert (
        reply.lead % 64 == 0
        and data[reply.lead : reply.lead + pixels[0].nbytes] == pixels[0].tobytes()
    )
    back = wire.decode_reply(data)
    assert [bytes(p) for p in back.pixels] == [px.tobytes() for px in pixels]
    assert isinstance(back.pixels[0], memoryview) and back.pixels[0].obj is data


def test_an_in_place_reply_is_sent_once_and_only_for_its_views():
    frame, reply = in_place_reply("s", [(2, 3, 4)])
    other = pb.StylizedFrame()
    other.CopyFrom(frame)
    other.views[0].width = 4
    with pytest.raises(ValueError, match="views"):
        reply.finish(pb.StylizeReply(frame=other))
    with pytest.raises(ValueError, match="nothing else"):
        reply.finish(pb.StylizeReply(frame=frame, error=pb.Status(code=3)))
    reply.finish(pb.StylizeReply(frame=frame))
    assert reply.arrays is None
    with pytest.raises(RuntimeError, match="already sent"):
        reply.finish(pb.StylizeReply(frame=frame))


def test_fresh_bytes_are_filled_in_place_and_outlive_the_caller():
    from artem_protocol import fresh_bytes

    data, array = fresh_bytes.new(4096)
    array[:] = 7
    assert type(data) is bytes and data == b"\x07" * 4096
    array = fresh_bytes.new(1 << 20)[1]  # the bytes object itself dropped: the array keeps it
    array[:] = 3
    assert array.base.owner == b"\x03" * (1 << 20)


@pytest.mark.parametrize("fid", [0, 7, 2**64 - 1])
def test_in_place_request_is_the_protobuf_message(fid):
    """A client's request laid out before its pixels, with the id and capture time filled in
    when it is sent, is the message protobuf makes (plus zeros in `pad`) and decodes as one."""
    shapes = [(4, 5, 4), (4, 5, 4)]
    views = [pb.View(width=5, height=4, format=pb.PIXEL_FORMAT_RGBA8, data=b"") for _ in shapes]
    request = wire.InPlaceFrame(pb.StylizeRequest, pb.Frame(views=views), shapes)
    pixels = [
        np.random.default_rng(i).integers(0, 256, s, dtype=np.uint8) for i, s in enumerate(shapes)
    ]
    for dst, px in zip(request.arrays, pixels):
        dst[...] = px
    msg = pb.StylizeRequest(
        frame=pb.Frame(id=fid, capture_time_us=-(2**63) if fid else 0, views=views)
    )
    data = wire.encode_request(wire.Message(msg, [], request))

    parsed = pb.StylizeRequest.FromString(data)
    assert parsed.pad == bytes(len(parsed.pad))
    parsed.ClearField("pad")
    expected = pb.StylizeRequest()
    expected.CopyFrom(msg)
    for v, px in zip(expected.frame.views, pixels):
        v.data = px.tobytes()
    assert parsed == expected
    back = wire.decode_request(data)
    assert back.msg.frame.id == fid and [bytes(p) for p in back.pixels] == [
        px.tobytes() for px in pixels
    ]


def test_an_in_place_frame_is_reopened_only_once_no_one_else_holds_its_bytes():
    """A sent frame's bytes are written again only after whoever they went to let go of them;
    they come back with the pixels last written, and what is sent next is the new message."""
    views = [pb.View(width=3, height=2, format=pb.PIXEL_FORMAT_RGB8, data=b"")]
    request = wire.InPlaceFrame(pb.StylizeRequest, pb.Frame(views=views), [(2, 3, 3)])
    request.arrays[0][...] = 5
    sent = request.finish(pb.StylizeRequest(frame=pb.Frame(id=1, views=views)))
    first = bytes(bytearray(sent))  # a copy (bytes(sent) is `sent` itself)
    assert hash(sent) == hash(first)  # a hash is cached in the bytes object
    assert request.arrays is None and not request.reopen()  # `sent` is still held here
    del sent
    assert request.reopen()
    assert (request.arrays[0] == 5).all()  # what was drawn is still there
    request.arrays[0][0] = 9
    again = request.finish(pb.StylizeRequest(frame=pb.Frame(id=2, views=views)))
    assert again != first and hash(again) == hash(bytes(bytearray(again)))  # no stale hash
    m = wire.decode_request(again)
    assert m.msg.frame.id == 2 and bytes(m.pixels[0]) == bytes([9] * 9 + [5] * 9)
    with pytest.raises(RuntimeError, match="already sent"):
        request.finish(pb.StylizeRequest(frame=pb.Frame(id=3, views=views)))
