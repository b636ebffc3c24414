"""Who may talk to the server: TLS or mutual TLS from certificate files, a bearer token checked
on every call, and a loud warning when the server listens beyond loopback without TLS.

The token is compared in constant time (hmac.compare_digest) and appears in no log line or
error message. Health checks are exempt from the token: load balancers and Kubernetes probe
without credentials, and health reveals one word (SERVING or NOT_SERVING).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

from .errors import Unauthenticated, status_of

log = logging.getLogger(__name__)

TOKEN_ENV = "ARTEM_TOKEN"
MIN_TOKEN_CHARS = 16
HEALTH_PREFIX = "/grpc.health.v1.Health/"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the server's certificate chain and key; with `client_ca`, clients must present
    a certificate signed by it (mutual TLS)."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        ca = Path(self.client_ca).read_bytes() if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(Path(self.key).read_bytes(), Path(self.cert).read_bytes())],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )


def bind(server: grpc.aio.Server, address: str, tls: TlsFiles | None) -> int:
    """Add the listening port, secure when `tls` is given; returns the bound port (0: failed)."""
    if tls is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, tls.credentials())


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; names are not resolved (anything else is
    treated as reachable from the network)."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warnings(host: str, tls: bool, token: bool) -> list[str]:
    """What is unsafe about listening on `host` this way (empty: nothing)."""
    if is_loopback(host):
        return []
    warnings = []
    if not tls:
        warnings.append(
            f"listening on {host} WITHOUT TLS: frames{' and the bearer token' if token else ''} "
            f"cross "
            "the network in clear text; pass --tls-cert/--tls-key (and --tls-client-ca for mutual "
            "TLS)"
        )
    if not token and not tls:
        warnings.append(
            f"listening on {host} with NO authentication: anyone who reaches the port can stream "
            f"and "
            "add styles; pass --token-file or --tls-client-ca"
        )
    return warnings


def load_token(path: Path | None) -> str | None:
    """The bearer token from `path`, else from $ARTEM_TOKEN, else None (no token required).
    A file keeps it out of `ps` and shell history; short tokens are refused."""
    if path is not None:
        token = Path(path).read_text(encoding="utf-8").strip()
        source = f"token file {path}"
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
        source = f"${TOKEN_ENV}"
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS:
        raise ValueError(
            f"{source}: the token has {len(token)} characters; expected at least {MIN_TOKEN_CHARS}"
        )
    if any(c.isspace() for c in token) or not token.isprintable():
        raise ValueError(
            f"{source}: the token must be one line of printable characters without spaces"
        )
    return token


def token_matches(metadata, expected: bytes) -> bool:
    """Whether `authorization: Bearer <token>` in `metadata` is `expected`, in constant time."""
    for key, value in metadata or ():
        if key == "authorization":
            given = value.encode() if isinstance(value, str) else bytes(value)
            scheme, _, token = given.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), expected)
    return False


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Refuses every call but health checks with UNAUTHENTICATED unless it carries the token.
    `on_refused(code)` counts refusals (metrics)."""

    def __init__(
        self, token: str, on_refused: Callable[[grpc.StatusCode], None] | None = None
    ) -> None:
        self._expected = token.encode()
        self._on_refused = on_refused

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable],
        details: grpc.HandlerCallDetails,
    ):
        handler = await continuation(details)
        if (
            handler is None
            or details.method.startswith(HEALTH_PREFIX)
            or token_matches(details.invocation_metadata, self._expected)
        ):
            return handler
        if self._on_refused is not None:
            self._on_refused(grpc.StatusCode.UNAUTHENTICATED)
        return refusing_handler(
            handler,
            Unauthenticated(
                "this server requires `authorization: Bearer <token>` call metadata, and the call "
                "had no matching token"
            ),
        )


def refusing_handler(handler: grpc.RpcMethodHandler, error: Exception) -> grpc.RpcMethodHandler:
    """A handler of `handler`'s shape that ends the call with `error`'s status before reading it:
    no request is parsed (gRPC hands over the raw bytes), so nothing a caller without
    credentials sends reaches a parser."""
    code, message = status_of(error)

    async def refuse(request_or_iterator, context: grpc.aio.ServicerContext):
        await context.abort(code, message)

    kwargs = {"request_deserializer": None, "response_serializer": handler.response_serializer}
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse, **kwargs)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse, **kwargs)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse, **kwargs)
    return grpc.unary_unary_rpc_method_handler(refuse, **kwargs)
