"""Stylize messages on the wire without protobuf copying the pixels.

The messages are plain artem.v1 protobuf (any gRPC client can speak them), but for multi-MB
`bytes` fields Python's protobuf (upb) copies on every parse, on every field read and on every
field write (protocolbuffers/protobuf#6782), and `bytes` must come from `ndarray.tobytes()`.
Here the pixel fields (View.data, View.jpeg) are cut out of the wire bytes as memoryviews
(no copy), the small rest goes through protobuf, and outgoing messages are joined from the
protobuf-serialized rest and the pixel buffers: one copy, into the bytes that gRPC sends.
A frame whose views are all inline goes further (`InPlaceFrame`): the pipeline writes a reply's
pixels, or a client's renderer a request's, straight into those bytes, and no copy is left.

A message these fast paths do not expect (a field repeated where it merges) is parsed by
protobuf as usual: slower, never wrong.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError

from . import fresh_bytes
from .copy import copy_many
from .rpc import pb

Buffer = bytes | memoryview | np.ndarray
_LEN = 2
_PIXEL_FIELDS = {6: "data", 8: "jpeg"}  # View's oneof `pixels` members carried as raw bytes
_VIEWS = 3  # Frame.views and StylizedFrame.views
_DATA = 6  # View.data


@dataclass
class Message:
    """A request or reply whose views' pixel bytes travel beside it: `pixels[i]` is view i's
    `data` or `jpeg` (the view holds an empty placeholder that says which), or None; or all of
    them already in place in `in_place`'s bytes."""

    msg: Any  # pb.StylizeRequest or pb.StylizeReply
    pixels: list[Buffer | None] = field(default_factory=list)
    in_place: InPlaceFrame | None = None


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it (protobuf encoding)."""
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[pos]
        result |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint too long")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of the tag, start of the value, end) of each field."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, end = read_varint(buf, pos)
        elif wire == 1:
            end = pos + 8
        elif wire == _LEN:
            n, pos = read_varint(buf, pos)
            end = pos + n
        elif wire == 5:
            end = pos + 4
        else:
            raise DecodeError(f"wire type {wire} (groups) not expected")
        if end > len(buf):
            raise DecodeError("truncated field")
        yield number, wire, start, pos, end
        pos = end


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(number: int, wire: int = _LEN) -> bytes:
    return _encode_varint(number << 3 | wire)


def _split_view(buf: memoryview) -> tuple[pb.View, Buffer | None]:
    rest, pixels, member = bytearray(), None, None
    for number, wire, start, vstart, end in _fields(buf):
        if number in _PIXEL_FIELDS and wire == _LEN:
            pixels, member = buf[vstart:end], _PIXEL_FIELDS[number]
        else:
            rest += buf[start:end]
            if number == 7:  # shm: a later oneof member replaces an earlier one
                pixels, member = None, None
    view = pb.View.FromString(bytes(rest))
    if member is not None:
        setattr(view, member, b"")  # placeholder: says which member carries the pixels
    return view, pixels


def _decode(data: bytes, outer: type, outer_field: int, inner: type) -> Message:
    buf = memoryview(data)
    fields = list(_fields(buf))
    numbers = [f[0] for f in fields]
    kind = {f.number for f in outer.DESCRIPTOR.oneofs_by_name["kind"].fields}
    if numbers.count(outer_field) != 1 or kind & set(numbers[numbers.index(outer_field) + 1 :]):
        return _decode_slow(data, outer)  # merged parts, or a later oneof member that wins
    rest, inner_msg, pixels = bytearray(), None, []
    for number, _, start, vstart, end in fields:
        if number != outer_field:
            rest += buf[start:end]
            continue
        inner_rest, views = bytearray(), []
        for n2, w2, s2, v2, e2 in _fields(buf[vstart:end]):
            if n2 == _VIEWS and w2 == _LEN:
                view, px = _split_view(buf[vstart + v2 : vstart + e2])
                views.append(view)
                pixels.append(px)
            else:
                inner_rest += buf[vstart + s2 : vstart + e2]
        inner_msg = inner.FromString(bytes(inner_rest))
        inner_msg.views.extend(views)
    msg = outer.FromString(bytes(rest))
    sub = getattr(msg, outer.DESCRIPTOR.fields_by_number[outer_field].name)
    sub.SetInParent()  # an empty frame is still a frame
    sub.CopyFrom(inner_msg)
    return Message(msg, pixels)


def _decode_slow(data: bytes, outer: type) -> Message:
    msg = outer.FromString(data)
    kind = msg.WhichOneof("kind")
    views = getattr(msg, kind).views if kind == "frame" else []
    pixels: list[Buffer | None] = []
    for v in views:
        member = v.WhichOneof("pixels")
        if member in ("data", "jpeg"):
            pixels.append(getattr(v, member))
            setattr(v, member, b"")
        else:
            pixels.append(None)
    return Message(msg, pixels)


def _nbytes(b: Buffer) -> int:
    return b.nbytes if isinstance(b, (memoryview, np.ndarray)) else len(b)


def _encode(m: Message, outer_field: int) -> bytes:
    if m.in_place is not None:
        return m.in_place.finish(m.msg)
    msg = m.msg
    name = msg.DESCRIPTOR.fields_by_number[outer_field].name
    if msg.WhichOneof("kind") != name or not any(p is not None for p in m.pixels):
        return msg.SerializeToString()
    inner = type(getattr(msg, name))()
    inner.CopyFrom(getattr(msg, name))
    views = list(inner.views)
    del inner.views[:]
    parts: list[Buffer] = [inner.SerializeToString()]
    for view, px in zip(views, m.pixels):
        if px is None:
            body = view.SerializeToString()
            parts += [_tag(_VIEWS), _encode_varint(len(body)), body]
            continue
        member = view.WhichOneof("pixels")
        number = next(k for k, v in _PIXEL_FIELDS.items() if v == member)
        view.ClearField("pixels")
        head = view.SerializeToString()
        if isinstance(px, np.ndarray):
            px = memoryview(np.ascontiguousarray(px)).cast("B")
        n = _nbytes(px)
        px_head = _tag(number) + _encode_varint(n)
        parts += [_tag(_VIEWS), _encode_varint(len(head) + len(px_head) + n), head, px_head, px]
    rest = type(msg)()
    rest.CopyFrom(msg)
    rest.ClearField(name)
    size = sum(_nbytes(p) for p in parts)
    return _join([_tag(outer_field), _encode_varint(size), *parts, rest.SerializeToString()])


def _join(parts: list[Buffer]) -> bytes:
    """b"".join(parts), with the pixel buffers copied by several threads (artem_protocol.copy)."""
    if not fresh_bytes.available():
        return b"".join(parts)
    data, buf = fresh_bytes.new(sum(_nbytes(p) for p in parts))
    pairs, pos = [], 0
    for p in parts:
        src = np.frombuffer(p, np.uint8)
        pairs.append((buf[pos : pos + src.size], src))
        pos += src.size
    copy_many(pairs)
    return data


@functools.cache
def _widest(cls: type) -> Any:
    """A `cls` message whose numeric fields (and its single sub-messages') hold values that take
    the most bytes on the wire; strings, bytes and repeated fields unset. Read it, never write."""
    F = FieldDescriptor
    widest = {
        F.TYPE_UINT64: 2**64 - 1,
        F.TYPE_UINT32: 2**32 - 1,
        F.TYPE_SINT64: -(2**63),
        F.TYPE_SINT32: -(2**31),
    }  # others: -1 is ten bytes as a varint; nonzero fills fixed widths
    msg = cls()
    for f in msg.DESCRIPTOR.fields:
        if f.is_repeated or f.type in (F.TYPE_STRING, F.TYPE_BYTES):
            continue
        if f.type == F.TYPE_MESSAGE:
            getattr(msg, f.name).CopyFrom(_widest(type(getattr(msg, f.name))))
        elif f.type == F.TYPE_BOOL:
            setattr(msg, f.name, True)
        else:
            setattr(msg, f.name, widest.get(f.type, -1))
    return msg


class InPlaceFrame:
    """The wire bytes of a request or reply frame whose views are all inline, laid out before
    the pixels exist so that they are written where they are sent from: by the pipeline into a
    reply, by a client's renderer into a request.

    Layout: a lead of `lead` bytes (a multiple of 64), then view 0's pixels; before each further
    view's pixels, that view's header. Protobuf takes fields in any order, so the lead holds
    [pad][frame: tag, length][the frame's fields but views][view 0: tag, length, fields, data
    tag, length]. The lead is filled last (`finish`), when the fields known only then (a reply's
    timings, a request's id) are set, and is sized for the largest values they can take; the
    `pad` field (zeros) takes up whatever the actual values leave. After `finish`, `reopen`
    takes the bytes back for another frame of the same views once gRPC has let go of them."""

    def __init__(self, outer: type, frame: Any, shapes: list[tuple[int, ...]]) -> None:
        """`outer`: pb.StylizeRequest or pb.StylizeReply; `frame`: its frame, with the fields
        known now (a reply's id and style) and its views (their `data` placeholders); `shapes`:
        each view's (H, W, bpp)."""
        self._outer = outer
        self._number = outer.DESCRIPTOR.fields_by_name["frame"].number
        self._pad = outer.DESCRIPTOR.fields_by_name["pad"].number
        self._heads = []
        for v in frame.views:
            head = pb.View()
            head.CopyFrom(v)
            head.ClearField("pixels")
            self._heads.append(head.SerializeToString())
        sizes = [math.prod(s) for s in shapes]
        # each view's: its tag and length, its fields, the data field's tag and length
        self._headers = []
        for head, n in zip(self._heads, sizes):
            px = _tag(_DATA) + _encode_varint(n)
            self._headers.append(_tag(_VIEWS) + _encode_varint(len(head) + len(px) + n) + head + px)
        self._views_size = sum(len(h) + n for h, n in zip(self._headers, sizes))
        widest = type(frame)()
        widest.CopyFrom(frame)
        del widest.views[:]
        widest.MergeFrom(
            _widest(type(frame))
        )  # the numbers at their widest, the strings as they are
        self.lead = -(-(2 + len(self._frame_lead(widest.SerializeToString()))) // 64) * 64
        offsets, pos = [], self.lead
        for i, n in enumerate(sizes):
            pos += len(self._headers[i]) if i else 0
            offsets.append(pos)
            pos += n
        self._bytes = fresh_bytes.Recyclable(pos)
        buf = self._bytes.array
        for header, at in zip(self._headers[1:], offsets[1:]):
            buf[at - len(header) : at] = np.frombuffer(header, np.uint8)
        self._arrays = [
            buf[at : at + n].reshape(shape) for at, n, shape in zip(offsets, sizes, shapes)
        ]
        self.arrays: list[np.ndarray] | None = self._arrays

    def _frame_lead(self, rest: bytes) -> bytes:
        """The frame's tag and length, its fields but views (`rest`, serialized), and view
        0's header."""
        return (
            _tag(self._number)
            + _encode_varint(len(rest) + self._views_size)
            + rest
            + self._headers[0]
        )

    def finish(self, msg: Any) -> bytes:
        """Write the lead for `msg` (the message these views belong to) and hand out the bytes.
        `arrays` is None from here on: the bytes are gRPC's until `reopen`."""
        if self.arrays is None:
            raise RuntimeError("this frame was already sent")
        if not isinstance(msg, self._outer) or [f.number for f, _ in msg.ListFields()] != [
            self._number
        ]:
            raise ValueError(
                f"an in-place {self._outer.__name__} carries a frame and nothing else (no error)"
            )
        rest = type(msg.frame)()
        rest.CopyFrom(msg.frame)
        views = list(rest.views)
        del rest.views[:]
        heads = []
        for v in views:
            v.ClearField("pixels")
            heads.append(v.SerializeToString())
        if heads != self._heads:
            raise ValueError("the frame's views are not those its pixels were laid out for")
        lead = self._frame_lead(rest.SerializeToString())
        pad = self.lead - len(lead) - 2  # the pad's own tag and one-byte length
        if not 0 <= pad < 128:
            raise ValueError(f"frame fields of {len(lead)} bytes do not fit a lead of {self.lead}")
        self._bytes.array[: self.lead] = np.frombuffer(
            _tag(self._pad) + _encode_varint(pad) + bytes(pad) + lead, np.uint8
        )
        self.arrays = None
        return self._bytes.data

    def reopen(self) -> bool:
        """After `finish`: whether the bytes are back (gRPC has sent them and let go), in which case
        `arrays` are writable again and still hold the pixels last written."""
        if self.arrays is None and self._bytes.reclaim():
            self.arrays = self._arrays
            return True
        return False


# -- the server's side ----------------------------------------------------------------------
def decode_request(data: bytes) -> Message:
    """StylizeRequest wire bytes -> the request and its views' pixels (memoryviews of `data`).

    Bytes that do not parse become an empty request, which the stream answers in its own reply
    (INVALID_ARGUMENT): a deserializer that raised would end the request stream without a word."""
    try:
        return _decode(data, pb.StylizeRequest, 2, pb.Frame)
    except DecodeError:
        return Message(pb.StylizeRequest(), [])


def encode_reply(reply: Message | pb.StylizeReply) -> bytes:
    """A reply (with its views' pixels beside it) -> StylizeReply wire bytes."""
    if isinstance(reply, Message):
        return _encode(reply, 1)
    return reply.SerializeToString()


# -- the client's side ----------------------------------------------------------------------
def encode_request(request: Message | pb.StylizeRequest) -> bytes:
    """A request (with its views' pixels beside it) -> StylizeRequest wire bytes."""
    if isinstance(request, Message):
        return _encode(request, 2)
    return request.SerializeToString()


def decode_reply(data: bytes) -> Message:
    """StylizeReply wire bytes -> the reply and its views' pixels (memoryviews of `data`)."""
    return _decode(data, pb.StylizeReply, 1, pb.StylizedFrame)
