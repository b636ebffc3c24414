"""Requests whose size is in their fields, not their bytes: a huge mix list, megabyte names,
stored cards too large for a reply, undecodable messages, one connection taking every stream
slot. Each is refused early with the status and field a client can act on, and the server
keeps serving everyone else."""

from __future__ import annotations

import json
import logging
import shutil

import grpc
import pytest
from artem_client import StylizerClient
from artem_protocol.rpc import pb
from conftest import RunningServer, add_generator_entry
from hardening_util import rgba_view
from test_adain_service import png
from test_hardening_limits import hold_stream
from test_stream import config, exchange, frame, frames_of

from artem_server.field_limits import FieldLimits
from artem_server.frames import FrameLimits
from artem_server.limits import ServerLimits
from artem_server.models.card import CARD_FILE
from artem_server.server import ServerConfig


def hold_streams(client: StylizerClient, n: int) -> list:
    return [hold_stream(client) for _ in range(n)]


UNARY = {
    "ListStyles": pb.ListStylesReply,
    "GetServerInfo": pb.ServerInfo,
    "AddStyle": pb.AddStyleReply,
}


@pytest.fixture(scope="module")
def models(tmp_path_factory, models_dir):
    """The shared generators, plus one entry whose card a hand (or an old server) gave a 25 MB
    display name: more than gRPC lets one message carry to a client."""
    root = tmp_path_factory.mktemp("requests-models")
    for entry in models_dir.iterdir():
        shutil.copytree(entry, root / entry.name)
    add_generator_entry(root, "huge-name", seed=3)
    card_path = root / "huge-name" / CARD_FILE
    card = json.loads(card_path.read_text())
    card["display_name"] = "N" * (25 << 20)
    card_path.write_text(json.dumps(card))
    return root


@pytest.fixture(scope="module")
def server(models):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models,
            device="cpu",
            metrics_port=0,
            limits=FrameLimits(max_frame_bytes=16 << 20),
        )
    )
    yield s
    s.stop()


@pytest.fixture()
def client(server):
    with StylizerClient(server.address) as c:
        yield c


def raw_call(address: str, method: str, payload: bytes, metadata=()) -> grpc.RpcError | object:
    """Send `payload` as the request bytes of a unary method; the reply or the RpcError."""
    with grpc.insecure_channel(address) as ch:
        call = ch.unary_unary(
            f"/artem.v1.Stylizer/{method}",
            request_serializer=None,
            response_deserializer=UNARY[method].FromString,
        )
        try:
            return call(payload, timeout=30, metadata=metadata)
        except grpc.RpcError as e:
            return e


# -- item 5: repeated and string fields are bounded before any work ---------------------------
def test_a_million_entry_mix_is_refused_naming_the_field_and_other_streams_go_on(client):
    c = pb.SessionConfig()
    c.mix.extend(
        [pb.StyleWeight(style="swirl", weight=1.0)] * 1_000_000
    )  # valid entries, all of them
    replies = exchange(
        client, [pb.StylizeRequest(config=c), config("identity"), frame(1, rgba_view(8))]
    )
    first = replies[0]
    assert first.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert (
        "config.mix has 1000000 entries" in first.error.message
        and "at most 16" in first.error.message
    )
    assert len(frames_of(replies)) == 1 and not replies[-1].HasField("error")
    info = client.server_info()
    assert (info.max_mix_styles, info.max_name_chars) == (16, 64)


@pytest.mark.parametrize("field", ["style", "backend", "precision"])
def test_a_megabyte_config_string_is_refused_naming_the_field_without_echoing_it(client, field):
    c = pb.SessionConfig(style="identity")
    setattr(c, field, "x" * (1 << 20))
    (reply,) = exchange(client, [pb.StylizeRequest(config=c)])
    assert reply.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert f"config.{field} has 1048576 characters" in reply.error.message
    assert len(reply.error.message) < 300


# -- item 8: ListStyles can never pass the message limit -----------------------------------------
def test_a_stored_25_mb_display_name_does_not_break_list_styles(client):
    styles = {s.id: s for s in client.list_styles()}  # the client's default 4 MiB receive limit
    assert {"huge-name", "gen-a", "identity"} <= set(styles)
    name = styles["huge-name"].display_name
    assert len(name) == 200 and name.startswith("NNN") and name.endswith("\u2026")


def test_list_styles_pages_by_count_and_the_client_follows_the_pages(client):
    everything = [s.id for s in client.list_styles()]
    assert everything == sorted(everything) and len(everything) >= 5
    pages, token = [], ""
    while True:
        reply = client.stub.ListStyles(pb.ListStylesRequest(page_size=2, page_token=token))
        pages.append([s.id for s in reply.styles])
        token = reply.next_page_token
        if not token:
            break
    assert all(len(p) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]) <= 2
    assert sum(pages, []) == everything
    assert client.server_info().max_list_styles_page == 100


def test_list_styles_pages_by_bytes(models):
    small = ServerLimits(fields=FieldLimits(list_reply_bytes=4096))
    with (
        RunningServer(
            ServerConfig(port=0, models_dir=models, device="cpu", server_limits=small)
        ) as s,
        StylizerClient(s.address) as c,
    ):
        first = c.stub.ListStyles(pb.ListStylesRequest())
        assert (
            first.next_page_token and first.ByteSize() <= 4096 + 512 * 1024
        )  # one thumbnail past the budget
        assert [x.id for x in c.list_styles()] == sorted(x.id for x in c.list_styles())
        assert len(c.list_styles()) > len(first.styles)


def test_add_style_refuses_a_long_or_multiline_display_name(client):
    for display_name, says in (
        ("D" * 201, "display_name has 201 characters"),
        ("two\nlines", "control character"),
    ):
        with pytest.raises(grpc.RpcError) as e:
            client.add_style("ok-name", "adain-lite", png_bytes(), display_name=display_name)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and says in e.value.details()


# -- item 11: names ----------------------------------------------------------------------------
def png_bytes() -> bytes:
    import numpy as np

    return png(np.full((32, 32, 3), 90, np.uint8))


def test_a_style_name_with_a_newline_is_refused_and_nothing_is_stored(client, models):
    with pytest.raises(grpc.RpcError) as e:
        client.add_style("nl\n", "adain-lite", png_bytes())
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'nl\\n'" in e.value.details()
    assert not any("\n" in p.name for p in models.iterdir())


def test_a_megabyte_style_name_is_invalid_argument_naming_the_field(client):
    with pytest.raises(grpc.RpcError) as e:
        client.add_style("a" * (1 << 20), "adain-lite", png_bytes())
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "name has 1048576 characters" in e.value.details() and "at most 64" in e.value.details()


# -- item 11: streams per connection -------------------------------------------------------------
def test_one_connection_cannot_hold_every_stream_slot(server):
    per = ServerLimits().max_streams_per_connection
    assert per < ServerLimits().max_streams
    with StylizerClient(server.address) as c, StylizerClient(server.address) as other:
        held = hold_streams(c, per)
        with pytest.raises(grpc.RpcError) as e:
            hold_streams(c, 1)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"max_streams_per_connection = {per}" in e.value.details()
        more = hold_streams(other, 1)  # another connection still gets a slot
        assert c.server_info().max_streams_per_connection == per
        for call, stop in held + more:
            stop.set()
            list(call)


# -- item 10: undecodable requests ------------------------------------------------------------
GARBAGE = b"\xff\xff\xff\xff\x0f\x0a\x05ab"


@pytest.mark.parametrize("method", sorted(UNARY))
def test_undecodable_unary_requests_get_invalid_argument_and_one_short_log_line(
    server, method, caplog
):
    with caplog.at_level(logging.INFO):
        results = [raw_call(server.address, method, GARBAGE) for _ in range(20)]
    for r in results:
        assert isinstance(r, grpc.RpcError) and r.code() == grpc.StatusCode.INVALID_ARGUMENT, r
        assert "not a valid artem.v1." in r.details()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "Traceback" not in caplog.text and "deserializ" not in text.lower()
    lines = [r for r in caplog.records if "not a valid" in r.getMessage()]
    assert len(lines) <= 1  # rate-limited: 20 refusals within a second, one line at most
    assert raw_call(server.address, "GetServerInfo", b"").version  # a good request still works


def test_garbage_without_the_token_is_refused_before_it_is_parsed(models, caplog):
    token = "t0ken-for-the-garbage-test"
    with RunningServer(ServerConfig(port=0, models_dir=models, device="cpu", token=token)) as s:
        with caplog.at_level(logging.INFO):
            for method in UNARY:
                r = raw_call(s.address, method, GARBAGE)
                assert (
                    isinstance(r, grpc.RpcError) and r.code() == grpc.StatusCode.UNAUTHENTICATED
                ), r
        assert "Traceback" not in caplog.text
        r = raw_call(
            s.address, "ListStyles", GARBAGE, metadata=(("authorization", f"Bearer {token}"),)
        )
        assert r.code() == grpc.StatusCode.INVALID_ARGUMENT
