"""Who gets in: TLS, mutual TLS and the bearer token, each refusal with UNAVAILABLE (the
handshake fails) or UNAUTHENTICATED (the call is refused), the token in no log line; and the
warning for listening beyond loopback without TLS."""

from __future__ import annotations

import json
import logging

import grpc
import pytest
from artem_client import StylizerClient
from artem_client.connect import ClientSecurity
from artem_protocol.rpc import pb, pb_grpc
from certs import CertificateAuthority
from conftest import RunningServer
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from hardening_util import SERVING, ServeProcess, health, metric, rgba_view, scrape
from test_stream import config, exchange, frame, frames_of

from artem_server.security import TlsFiles, exposure_warnings, is_loopback, load_token
from artem_server.server import ServerConfig

TOKEN = "s3cr3t-T0ken-that-must-never-be-logged"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue = CertificateAuthority(folder, "artem"), CertificateAuthority(folder, "rogue")
    return {
        "ca": ca.issued,
        "server": ca.issue("server", server=True),
        "client": ca.issue("client", server=False),
        "rogue_ca": rogue.issued,
        "rogue_server": rogue.issue("server", server=True),
        "rogue_client": rogue.issue("client", server=False),
    }


def refused(address: str, security: ClientSecurity | None) -> grpc.RpcError:
    with StylizerClient(address, security) as c, pytest.raises(grpc.RpcError) as e:
        c.stub.ListStyles(pb.ListStylesRequest(), timeout=10)
    return e.value


def stylize_works(address: str, security: ClientSecurity | None) -> None:
    with StylizerClient(address, security) as c:
        assert "gen-a" in {s.id for s in c.list_styles()}
        (f,) = frames_of(exchange(c, [config("gen-a"), frame(1, rgba_view(16))]))
        assert f.views


def test_tls_serves_clients_that_trust_its_certificate_and_no_one_else(models_dir, pki):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            tls=TlsFiles(pki["server"].cert, pki["server"].key),
        )
    )
    try:
        stylize_works(s.address, ClientSecurity(root_certificates=pki["ca"].cert_pem()))
        wrong_ca = refused(s.address, ClientSecurity(root_certificates=pki["rogue_ca"].cert_pem()))
        plaintext = refused(s.address, None)
        assert (
            wrong_ca.code() == grpc.StatusCode.UNAVAILABLE
            and plaintext.code() == grpc.StatusCode.UNAVAILABLE
        )
    finally:
        s.stop()
    # And a server with the wrong certificate is refused by a client that trusts only our CA.
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            tls=TlsFiles(pki["rogue_server"].cert, pki["rogue_server"].key),
        )
    )
    try:
        e = refused(s.address, ClientSecurity(root_certificates=pki["ca"].cert_pem()))
        assert e.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        s.stop()


def test_mutual_tls_admits_only_clients_with_a_certificate_from_its_ca(models_dir, pki):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            tls=TlsFiles(pki["server"].cert, pki["server"].key, client_ca=pki["ca"].cert),
        )
    )
    ca = pki["ca"].cert_pem()
    try:
        stylize_works(
            s.address, ClientSecurity(ca, pki["client"].cert_pem(), pki["client"].key_pem())
        )
        no_cert = refused(s.address, ClientSecurity(root_certificates=ca))
        rogue_cert = refused(
            s.address,
            ClientSecurity(ca, pki["rogue_client"].cert_pem(), pki["rogue_client"].key_pem()),
        )
        assert (
            no_cert.code() == grpc.StatusCode.UNAVAILABLE
            and rogue_cert.code() == grpc.StatusCode.UNAVAILABLE
        )
    finally:
        s.stop()


@pytest.fixture(scope="module")
def token_server(models_dir):
    s = RunningServer(
        ServerConfig(port=0, models_dir=models_dir, device="cpu", token=TOKEN, metrics_port=0)
    )
    yield s
    s.stop()


@pytest.mark.parametrize(
    "token", [None, "", "wrong", TOKEN[:-1] + "X", TOKEN + "X", "Basic " + TOKEN]
)
def test_every_call_without_the_right_token_is_unauthenticated(token_server, token, caplog):
    caplog.set_level(logging.DEBUG)
    metadata = (
        ()
        if token is None
        else (("authorization", token if token.startswith("Basic") else f"Bearer {token}"),)
    )
    with grpc.insecure_channel(token_server.address) as ch:
        stub = pb_grpc.StylizerStub(ch)
        calls = [
            lambda: stub.ListStyles(pb.ListStylesRequest(), metadata=metadata, timeout=10),
            lambda: stub.GetServerInfo(pb.GetServerInfoRequest(), metadata=metadata, timeout=10),
            lambda: stub.AddStyle(
                pb.AddStyleRequest(name="x", model="y", image=b"z"), metadata=metadata, timeout=10
            ),
            lambda: list(
                stub.Stylize(
                    iter([config("gen-a"), frame(1, rgba_view(8))]), metadata=metadata, timeout=10
                )
            ),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as e:
                call()
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED, e.value
            assert TOKEN not in e.value.details()
        with pytest.raises(
            grpc.RpcError
        ):  # reflection describes the API only to those who may use it
            ProtoReflectionDescriptorDatabase(ch).get_services()
        assert health(token_server.address, channel=ch) == SERVING, "health checks need no token"
    assert not any(TOKEN in r.getMessage() for r in caplog.records)


def test_the_right_token_is_served_and_refusals_are_counted(token_server):
    before = metric(
        scrape(token_server.server.metrics_port), "artem_errors_total", code="UNAUTHENTICATED"
    )
    stylize_works(token_server.address, ClientSecurity(token=TOKEN))
    refused(token_server.address, ClientSecurity(token="not-the-token-at-all"))
    after = metric(
        scrape(token_server.server.metrics_port), "artem_errors_total", code="UNAUTHENTICATED"
    )
    assert after == before + 1


def test_artem_serve_with_a_token_file_logs_json_with_stream_ids_and_never_the_token(
    tmp_path, models_dir
):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    server = ServeProcess(
        tmp_path / "serve",
        ["--models-dir", str(models_dir), "--token-file", str(token_file)],
        global_args=["--log-level", "DEBUG", "--log-format", "json"],
    )
    try:
        refused(server.address, ClientSecurity(token="x" * 20))
        refused(server.address, None)
        stylize_works(server.address, ClientSecurity(token=TOKEN))
    finally:
        assert server.stop() == 0
    out = server.output()
    assert TOKEN not in out
    lines = [
        json.loads(line)
        for line in server.stderr_path.read_text().splitlines()
        if line.startswith("{")
    ]
    closed = [r for r in lines if r["msg"].startswith("stream closed")]
    assert (
        closed
        and all(r["stream_id"] for r in closed)
        and "1 answered with pixels" in closed[-1]["msg"]
    )


def test_a_short_or_multi_word_token_is_refused_at_start(tmp_path, monkeypatch):
    short = tmp_path / "short"
    short.write_text("tooshort")
    with pytest.raises(ValueError, match="at least 16"):
        load_token(short)
    monkeypatch.setenv("ARTEM_TOKEN", "two words that are long enough")
    with pytest.raises(ValueError, match="without spaces"):
        load_token(None)
    monkeypatch.setenv("ARTEM_TOKEN", TOKEN)
    assert load_token(None) == TOKEN
    monkeypatch.delenv("ARTEM_TOKEN")
    assert load_token(None) is None


def test_listening_beyond_loopback_without_tls_is_warned_about():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.1.2.3", "artem.example", "[::]"))
    assert exposure_warnings("127.0.0.1", tls=False, token=False) == []
    warned = " ".join(exposure_warnings("0.0.0.0", tls=False, token=True))
    assert "WITHOUT TLS" in warned and "bearer token" in warned
    assert "NO authentication" in " ".join(exposure_warnings("::", tls=False, token=False))
    assert exposure_warnings("0.0.0.0", tls=True, token=False) == []


def test_a_loopback_server_starts_without_a_warning(models_dir, caplog):
    caplog.set_level(logging.WARNING, logger="artem_server.server")
    s = RunningServer(ServerConfig(port=0, models_dir=models_dir, device="cpu"))
    s.stop()
    assert not [r for r in caplog.records if "SECURITY WARNING" in r.getMessage()]


def test_server_config_repr_hides_the_token(models_dir):
    assert TOKEN not in repr(ServerConfig(models_dir=models_dir, token=TOKEN))


def test_health_listener_answers_probes_in_plaintext_beside_a_tls_port(models_dir, pki):
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            health_port=0,
            tls=TlsFiles(pki["server"].cert, pki["server"].key),
        )
    )
    try:
        assert health(f"127.0.0.1:{s.server.health_port}") == SERVING
        with (
            grpc.insecure_channel(f"127.0.0.1:{s.server.health_port}") as ch,
            pytest.raises(grpc.RpcError) as e,
        ):
            ch.unary_unary(
                "/artem.v1.Stylizer/ListStyles",
                request_serializer=pb.ListStylesRequest.SerializeToString,
                response_deserializer=pb.ListStylesReply.FromString,
            )(pb.ListStylesRequest(), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED, (
            "the health port serves health alone"
        )
    finally:
        s.stop()


def test_artem_client_and_styles_list_connect_with_tls_a_client_certificate_and_the_token(
    models_dir, pki, tmp_path, capsys
):
    from artem_server.cli import main

    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            token=TOKEN,
            tls=TlsFiles(pki["server"].cert, pki["server"].key, client_ca=pki["ca"].cert),
        )
    )
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    security = [
        "--tls-ca",
        str(pki["ca"].cert),
        "--tls-cert",
        str(pki["client"].cert),
        "--tls-key",
        str(pki["client"].key),
        "--token-file",
        str(token_file),
    ]
    try:
        assert main(["styles", "list", "--server", s.address, *security]) == 0
        assert (
            main(
                [
                    "client",
                    "--server",
                    s.address,
                    "--style",
                    "gen-a",
                    "--frames",
                    "2",
                    "--size",
                    "16x16",
                    *security,
                ]
            )
            == 0
        )
    finally:
        s.stop()
    out = capsys.readouterr().out
    assert "gen-a" in out and "2 frames in" in out and TOKEN not in out
