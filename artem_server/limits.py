"""The server's limits beyond one frame's (frames.FrameLimits): streams, idle time, styles added
at run time, uploads, keepalive. One dataclass, so `artem serve` flags, tests and docs name the
same fields, and every refusal can quote the limit it enforces.

Why these bound memory: a stream holds at most one frame on the device and one waiting (latest
frame wins), so requests in memory stay under 2 * max_streams * max_frame_bytes however fast
clients send; replies wait on the client's flow control and a stream runs its next frame only
while fewer than two are on their way, so replies stay under the same bound however slowly
clients read; gRPC refuses calls past max_rpcs before reading them; keepalive finds dead peers
(a headset switched off, a NAT that forgot the flow) so their streams free their slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .field_limits import FieldLimits
from .frames import FrameLimits


@dataclass(frozen=True)
class Keepalive:
    """HTTP/2 keepalive, server side (grpc core's channel arguments, named in grpc_options)."""

    time_s: float = 20.0  # ping a connection after this long without traffic
    timeout_s: float = 10.0  # ...and close it when the ping is not answered this fast
    min_client_ping_s: float = 10.0  # clients pinging more often get GOAWAY (too_many_pings)
    permit_without_calls: bool = True  # engines keep a channel open between sessions
    max_connection_idle_s: float = 0.0  # close connections with no call this long; 0: never


@dataclass(frozen=True)
class ServerLimits:
    """Limits of one server process; the defaults protect one machine with one GPU."""

    max_streams: int = 8  # concurrent Stylize streams; more get RESOURCE_EXHAUSTED
    # ...of them on one client connection (HTTP/2 multiplexes many on one); 0: only max_streams.
    # A proxy that funnels many clients into few connections needs 0 or max_streams here.
    max_streams_per_connection: int = 4
    max_rpcs: int = 64  # concurrent calls of any kind (gRPC's own RESOURCE_EXHAUSTED past it)
    stream_idle_timeout_s: float = (
        60.0  # a stream that sends nothing this long: DEADLINE_EXCEEDED; 0: never
    )
    max_added_styles: int = 100  # styles stored by AddStyle, all clients together
    max_added_styles_bytes: int = 64 << 20  # their entries' bytes on disk, together
    max_style_image_bytes: int = 16 << 20  # one AddStyle image (PNG/JPEG file)
    # A frame that waited this long for the model: health NOT_SERVING until frames keep up again;
    # a frame waits at most this long for its session's runner to be built (then UNAVAILABLE). 0:
    # off.
    frame_deadline_s: float = 5.0
    keepalive: Keepalive = field(default_factory=Keepalive)
    fields: FieldLimits = field(
        default_factory=FieldLimits
    )  # requests' strings and repeated fields

    def __post_init__(self) -> None:
        if self.max_streams < 1:
            raise ValueError(f"max_streams = {self.max_streams}: expected at least 1")
        if self.max_rpcs <= self.max_streams:
            raise ValueError(
                f"max_rpcs = {self.max_rpcs} must exceed max_streams = {self.max_streams}, "
                "or unary calls (ListStyles, health) could find no room beside full streams"
            )
        for name in (
            "max_streams_per_connection",
            "stream_idle_timeout_s",
            "frame_deadline_s",
            "max_added_styles",
            "max_added_styles_bytes",
            "max_style_image_bytes",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)}: expected 0 or more")


def grpc_options(frame: FrameLimits, limits: ServerLimits) -> list[tuple[str, int]]:
    """The grpc.aio.server channel arguments for these limits (set on purpose, not left to
    gRPC's defaults: a 4 MiB message cap and no keepalive)."""
    size = frame.transport_message_bytes()
    k = limits.keepalive
    ms = lambda s: int(s * 1000)  # noqa: E731
    options = [
        ("grpc.max_receive_message_length", size),
        ("grpc.max_send_message_length", size),
        ("grpc.keepalive_time_ms", ms(k.time_s)),
        ("grpc.keepalive_timeout_ms", ms(k.timeout_s)),
        (
            "grpc.http2.ping_timeout_ms",
            ms(k.timeout_s),
        ),  # an unanswered ping of any kind closes it too
        ("grpc.keepalive_permit_without_calls", int(k.permit_without_calls)),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", ms(k.min_client_ping_s)),
        ("grpc.http2.max_pings_without_data", 0),  # the server's own pings are never throttled
        ("grpc.http2.max_ping_strikes", 2),
        # One connection may carry every stream the server admits, and no more.
        ("grpc.max_concurrent_streams", limits.max_rpcs),
    ]
    if k.max_connection_idle_s > 0:
        options.append(("grpc.max_connection_idle_ms", ms(k.max_connection_idle_s)))
    return options
