"""Channels to an ArtemServer: plaintext on loopback, TLS or mutual TLS elsewhere, and the
server's bearer token on every call.

The token rides in `authorization: Bearer <token>` call metadata, added by a client
interceptor, so it works on TLS and plaintext (loopback) channels alike; gRPC's call
credentials would refuse plaintext.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc


@dataclass(frozen=True)
class ClientSecurity:
    """PEM bytes: `root_certificates` (the CA that signed the server's certificate) turns TLS on;
    `certificate_chain` + `private_key` are the client's own (mutual TLS). `token` is the bearer
    token. `server_name` overrides the name checked against the server's certificate."""

    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    token: str | None = field(default=None, repr=False)
    server_name: str | None = None

    @classmethod
    def from_files(
        cls,
        ca: Path | None = None,
        cert: Path | None = None,
        key: Path | None = None,
        token_file: Path | None = None,
        server_name: str | None = None,
    ) -> ClientSecurity:
        read = lambda p: Path(p).read_bytes() if p else None  # noqa: E731
        token = Path(token_file).read_text(encoding="utf-8").strip() if token_file else None
        return cls(read(ca), read(cert), read(key), token, server_name)

    @property
    def tls(self) -> bool:
        return self.root_certificates is not None or self.certificate_chain is not None


class _Details(
    collections.namedtuple(
        "_Details",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, d: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [m for m in (d.metadata or ()) if m[0] != "authorization"] + [self._header]
        return _Details(
            d.method, d.timeout, metadata, d.credentials, d.wait_for_ready, d.compression
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._details(details), request_iterator)


def open_channel(
    address: str, security: ClientSecurity | None = None, options: Sequence[tuple[str, object]] = ()
) -> grpc.Channel:
    """A channel to `address` ("host:port") secured as `security` says."""
    options = list(options)
    if security is not None and security.server_name:
        options.append(("grpc.ssl_target_name_override", security.server_name))
    if security is not None and security.tls:
        creds = grpc.ssl_channel_credentials(
            security.root_certificates, security.private_key, security.certificate_chain
        )
        channel = grpc.secure_channel(address, creds, options=options)
    else:
        channel = grpc.insecure_channel(address, options=options)
    if security is not None and security.token:
        channel = grpc.intercept_channel(channel, BearerToken(security.token))
    return channel
