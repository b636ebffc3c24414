"""The Stylizer service's gRPC method handlers, as the generated `add_StylizerServicer_to_server`
would register them but for two things: Stylize's messages are coded by artem_protocol.wire
(inline pixels never copied by protobuf), and unary requests whose bytes do not parse are handed
to the servicer's `refuse_undecodable` instead of making gRPC log a traceback and answer UNKNOWN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from artem_protocol.rpc import pb
from artem_protocol.wire import decode_request, encode_reply
from google.protobuf.message import DecodeError


@dataclass(frozen=True)
class Undecodable:
    """A unary request whose bytes are not a `type_name` message; the servicer refuses it."""

    type_name: str
    size: int


def _lenient(cls: type) -> Any:
    """cls.FromString that returns Undecodable instead of raising: a deserializer that raises
    makes gRPC log a traceback and answer UNKNOWN, for every such request."""

    def decode(data: bytes) -> Any:
        try:
            return cls.FromString(data)
        except DecodeError:
            return Undecodable(cls.DESCRIPTOR.full_name, len(data))

    return decode


def _refusing_undecodable(behaviour: Any, refuse: Any) -> Any:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            await refuse(request, context)  # aborts the call
        return await behaviour(request, context)

    return handle


def add_stylizer_servicer(servicer: Any, server: grpc.aio.Server) -> None:
    """Register the Stylizer service like the generated `add_StylizerServicer_to_server`, but
    with Stylize's messages coded here, and unary requests that do not parse handed to
    `servicer.refuse_undecodable(request, context)` instead of the method."""
    service = pb.DESCRIPTOR.services_by_name["Stylizer"]
    handlers = {}
    for method in service.methods:
        behaviour = getattr(servicer, method.name)
        if method.name == "Stylize":
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(
                behaviour, request_deserializer=decode_request, response_serializer=encode_reply
            )
            continue
        if method.client_streaming or method.server_streaming:
            raise NotImplementedError(f"{method.full_name}: only Stylize streams")
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _refusing_undecodable(behaviour, servicer.refuse_undecodable),
            request_deserializer=_lenient(getattr(pb, method.input_type.name)),
            response_serializer=getattr(pb, method.output_type.name).SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    server.add_registered_method_handlers(service.full_name, handlers)
