"""Fuzzing the Stylize stream (hypothesis): generated sessions of configs and frames with any
field values, raw bytes in place of messages (Stylize's and every unary call's), and raw gRPC
message headers (compressed flag, length prefix) on a bare HTTP/2 connection. Every request
gets its reply, OK or a client-side status, never INTERNAL; the server never dies; a well-formed
stream afterwards still works."""

from __future__ import annotations

import socket

import grpc
import h2.config
import h2.connection
import h2.events
import numpy as np
import pytest
from artem_client import StylizerClient
from artem_client.frames import decode_view, encode_view
from artem_protocol.rpc import pb
from conftest import RunningServer
from hardening_util import SERVING, health, metric, scrape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_stream import config, exchange, frame, frames_of

from artem_server.frames import FrameLimits
from artem_server.server import ServerConfig

# The codes a client's mistake may earn; INTERNAL or UNKNOWN would be a server bug.
CLIENT_CODES = {
    grpc.StatusCode[c].value[0]
    for c in (
        "INVALID_ARGUMENT",
        "NOT_FOUND",
        "RESOURCE_EXHAUSTED",
        "PERMISSION_DENIED",
        "FAILED_PRECONDITION",
        "OUT_OF_RANGE",
    )
}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def server(models_dir):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            metrics_port=0,
            limits=FrameLimits(max_frame_bytes=64 * 1024, max_dimension=256),
        )
    )
    yield s
    s.stop()


names = st.sampled_from(
    [
        "identity",
        "gen-a",
        "gen-b",
        "",
        "nope",
        "../gen-a",
        "GEN-A",
        "gen-a/..",
        "a" * 65,
        "gen-a\0",
        "ünïcode",
    ]
) | st.text(max_size=12)
floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


@st.composite
def configs(draw) -> pb.StylizeRequest:
    c = pb.SessionConfig(style=draw(names))
    if draw(st.booleans()):
        c.strength = draw(floats)
    if draw(st.booleans()):
        c.jpeg_quality = draw(st.integers(0, 2**32 - 1))
    c.backend = draw(
        st.sampled_from(
            ["", "torch-eager", "torch-optimized", "onnxruntime", "tensorrt", "x" * 100]
        )
    )
    c.precision = draw(st.sampled_from(["", "fp32", "fp16", "bf16", "int4"]))
    if draw(st.booleans()):
        c.render_scale = draw(floats)
    for _ in range(draw(st.integers(0, 3))):
        c.mix.add(style=draw(names), weight=draw(floats))
    c.preserve_color = draw(st.booleans())
    if draw(st.integers(0, 5)) == 0:  # a region that does not exist, or a name that must be refused
        r = c.shared_memory
        r.name = draw(
            st.sampled_from(["artem-fuzz-nonexistent", "../../etc/passwd", "", "a/b", "x" * 300])
        )
        r.size, r.slot_count, r.slot_size = (
            draw(st.integers(0, 2**64 - 1)),
            draw(st.integers(0, 2**32 - 1)),
            draw(st.integers(0, 2**64 - 1)),
        )
    return pb.StylizeRequest(config=c)


@st.composite
def good_views(draw) -> pb.View:
    """A view that passes every check: odd sizes, every format and colour space, padded rows."""
    w, h, fmt = draw(st.integers(1, 40)), draw(st.integers(1, 40)), draw(st.integers(1, 3))
    bpp = 3 if fmt == 3 else 4
    stride = w * bpp + draw(st.sampled_from([0, 0, 1, 64]))
    data = bytes([draw(st.integers(0, 255))]) * (
        stride * (h - 1) + w * bpp
    )  # the last row may stop short
    return pb.View(
        width=w,
        height=h,
        format=fmt,
        color_space=draw(st.integers(0, 2)),
        row_stride=draw(st.sampled_from([0, stride])) if stride == w * bpp else stride,
        data=data,
    )


@st.composite
def wild_views(draw) -> pb.View:
    """Any field any value: sizes, formats, strides, pixels that do not match, other carriers."""
    w, h = draw(st.integers(-3, 300)), draw(st.integers(-3, 300))
    fmt = draw(st.integers(0, 4))
    v = pb.View(
        width=w,
        height=h,
        format=fmt,
        color_space=draw(st.integers(0, 3)),
        row_stride=draw(st.sampled_from([0, -1, 1, 3 * max(w, 0), 4 * max(w, 0) + 64, 2**31 - 1])),
    )
    bpp = {1: 4, 2: 4, 3: 3}.get(fmt, 4)
    carrier = draw(st.sampled_from(["data", "data", "jpeg", "shm", "none"]))
    if carrier == "data":
        exact = max(w, 0) * max(h, 0) * bpp
        n = draw(st.sampled_from([exact, max(exact - 1, 0), exact + 1, 0]))
        v.data = bytes([draw(st.integers(0, 255))]) * min(n, 64 * 1024 + 8)
    elif carrier == "jpeg":
        v.jpeg = draw(st.binary(max_size=256))
    elif carrier == "shm":
        v.shm.slot, v.shm.offset = draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 2**64 - 1))
    return v


views = st.one_of(good_views(), good_views(), wild_views())


@st.composite
def frames(draw) -> pb.StylizeRequest:
    return pb.StylizeRequest(
        frame=pb.Frame(
            id=draw(st.integers(0, 2**64 - 1)),
            capture_time_us=draw(st.integers(-(2**63), 2**63 - 1)),
            views=draw(st.lists(views, max_size=3)),
        )
    )


good_configs = st.sampled_from(["identity", "gen-a", "gen-b"]).map(config)
sessions = st.tuples(
    st.lists(good_configs, max_size=1),
    st.lists(
        st.one_of(configs(), frames(), frames(), frames(), st.just(pb.StylizeRequest())),
        min_size=1,
        max_size=5,
    ),
).map(lambda parts: parts[0] + parts[1])


def check_replies(requests: list[pb.StylizeRequest], replies: list[pb.StylizeReply]) -> None:
    """One reply per config and per empty request; every frame answered or counted as dropped."""
    kinds = [r.WhichOneof("kind") for r in requests]
    for reply in replies:
        if reply.HasField("error"):
            # UNAVAILABLE only for a frame whose session's runner (an ONNX export) is still being
            # built
            assert reply.error.code in CLIENT_CODES or (
                reply.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
                and "still being built" in reply.error.message
            ), reply.error
            assert reply.error.message
    frame_replies = [r for r in replies if r.WhichOneof("kind") == "frame"]
    answered = len(frame_replies) + sum(r.frame.dropped_frames for r in frame_replies)
    assert answered == kinds.count("frame")
    assert sum(r.WhichOneof("kind") == "session" for r in replies) == kinds.count("config")
    assert sum(r.WhichOneof("kind") is None for r in replies) == kinds.count(None)


def still_serves(address: str) -> None:
    good = encode_view(np.full((8, 8, 4), 77, np.uint8), pb.PIXEL_FORMAT_RGBA8)
    with StylizerClient(address) as c:
        (f,) = frames_of(exchange(c, [config("identity"), frame(1, good)]))
        np.testing.assert_array_equal(decode_view(f.views[0]), decode_view(good))
    assert health(address) == SERVING


@FUZZ
@given(requests=sessions)
def test_generated_sessions_get_a_reply_or_a_client_status(server, requests):
    with StylizerClient(server.address) as c:
        replies = list(c.stub.Stylize(iter(requests), timeout=60))  # the call itself ends OK
    check_replies(requests, replies)


@FUZZ
@given(
    payloads=st.lists(
        st.binary(max_size=64)
        | st.sampled_from(
            [
                b"\x12\xff\xff\xff\x0f",
                b"\x0a\x05ab",
                b"\x12\x02\x1a\x00",
                b"\x12\x04\x1a\x02\x30\x01",
            ]
        ),
        min_size=1,
        max_size=4,
    )
)
def test_raw_bytes_in_place_of_messages_are_answered_in_band(server, payloads):
    with grpc.insecure_channel(server.address) as ch:
        call = ch.stream_stream(
            "/artem.v1.Stylizer/Stylize", response_deserializer=pb.StylizeReply.FromString
        )
        replies = list(call(iter([config("identity").SerializeToString(), *payloads]), timeout=60))
    assert replies[0].WhichOneof("kind") == "session" and not replies[0].HasField("error")
    for reply in replies:
        assert not reply.HasField("error") or reply.error.code in CLIENT_CODES, reply.error
    assert len(replies) <= 1 + len(payloads)


UNARY_REPLIES = {
    "ListStyles": pb.ListStylesReply,
    "GetServerInfo": pb.ServerInfo,
    "AddStyle": pb.AddStyleReply,
}


@FUZZ
@given(
    method=st.sampled_from(sorted(UNARY_REPLIES)),
    payload=st.binary(max_size=64)
    | st.sampled_from(
        [
            b"\xff\xff\xff\xff\x0f",
            b"\x0a\x05ab",
            b"\x12\x02\x1a\x00",
            b"\x08\x01",
            b"\x0a\xff\xff\x03x",
        ]
    ),
)
def test_raw_bytes_to_every_unary_rpc_get_a_reply_or_a_client_status(server, method, payload):
    with grpc.insecure_channel(server.address) as ch:
        call = ch.unary_unary(
            f"/artem.v1.Stylizer/{method}", response_deserializer=UNARY_REPLIES[method].FromString
        )
        try:
            call(payload, timeout=60)
        except grpc.RpcError as e:
            assert e.code().value[0] in CLIENT_CODES | {grpc.StatusCode.ALREADY_EXISTS.value[0]}, e
            assert e.details()


@st.composite
def grpc_frames(draw) -> bytes:
    """One gRPC length-prefixed message with a fuzzed header: the compressed flag and the length
    need not match the body."""
    body = draw(
        st.sampled_from([config("identity").SerializeToString(), b"", b"\xff" * 10])
        | st.binary(max_size=32)
    )
    flag = draw(st.sampled_from([0, 0, 1, 2, 255]))
    length = draw(
        st.sampled_from([len(body), len(body) + 1, max(len(body) - 1, 0), 0, 2**32 - 1, 2**31])
    )
    return bytes([flag]) + length.to_bytes(4, "big") + body


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(messages=st.lists(grpc_frames(), min_size=1, max_size=3))
def test_fuzzed_grpc_message_headers_end_the_call_with_a_status(server, messages):
    """The client sends its messages and half-closes: whatever the headers say, the call ends
    with a grpc-status (from gRPC's framing or from us) or a reset, never a hang."""
    sock = socket.create_connection(("127.0.0.1", server.server.port), timeout=20)
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
    conn.send_data(1, b"".join(messages), end_stream=True)
    sock.sendall(conn.data_to_send())
    status, ended = None, False
    try:
        while not ended:
            chunk = sock.recv(65536)
            if not chunk:
                break
            for event in conn.receive_data(chunk):
                if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    status = dict(event.headers).get(b"grpc-status", status)
                ended = ended or isinstance(
                    event,
                    (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated),
                )
            sock.sendall(conn.data_to_send())
    finally:
        sock.close()
    assert status is not None or ended, "the server dropped the connection without ending the call"


def test_after_the_fuzzing_the_server_still_serves_and_counted_no_internal_error(server):
    still_serves(server.address)
    m = scrape(server.server.metrics_port)
    for code in ("INTERNAL", "UNKNOWN"):
        assert metric(m, "artem_errors_total", code=code) == 0
    assert (
        metric(m, "artem_errors_total", code="INVALID_ARGUMENT") > 0
    )  # the fuzzing did reach the checks
    assert (
        metric(m, "artem_frames_total") > 1
    )  # ...and some generated frames got through them to a model
