"""Domain errors, each carrying the gRPC status code it maps to: one mapping, in one place.

The service turns them into a reply's `error` (inside a stream) or an aborted call (unary).
Anything else is a server fault: INTERNAL with a generic message, traceback logged.
"""

from __future__ import annotations

import grpc


class ArtemError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(ArtemError, ValueError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(ArtemError, LookupError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ArtemError):
    code = grpc.StatusCode.ALREADY_EXISTS


class ResourceExhausted(ArtemError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class PermissionDenied(ArtemError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(ArtemError):
    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(ArtemError):
    """A call without the right credentials (bearer token); the message never repeats them."""

    code = grpc.StatusCode.UNAUTHENTICATED


class DeadlineExceeded(ArtemError):
    """A stream that sent nothing for longer than the server's idle timeout."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """(code, message) for an exception; a non-domain error hides its details from the client."""
    if isinstance(exc, ArtemError):
        return exc.code, str(exc)
    return (
        grpc.StatusCode.INTERNAL,
        "internal error while processing the request (see the server log)",
    )
