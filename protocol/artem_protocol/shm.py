"""The byte layout of a shared-memory region, which the client creates and the server maps.

On one host, pixels need not pay for the gRPC pipe (~0.7 GB/s in Python on loopback, while a
memory copy runs at >10 GB/s): the client creates a region, registers it in its session
config, and frames name slots in it (NVIDIA Triton's system-shared-memory pattern). The exact
layout and protocol are in docs/shared-memory.md; the C++ engine client implements the same.

Layout (little-endian):

    offset 0      header, HEADER_SIZE (4096) bytes: MAGIC, version, slot_count, slot_size, key
    4096          request slot 0, 1, ..., slot_count - 1   (client writes, server reads)
    4096 + n*S    reply slot 0, 1, ..., slot_count - 1     (server writes, client reads)

The key is 16 random bytes that the registration repeats: it binds the region to the client
that made it (only a process that can read the region knows it).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

MAGIC = b"ARTEMSHM"
VERSION = 2  # 2: the header holds the region's key
HEADER_SIZE = 4096  # one page: slots start page-aligned (cudaHostRegister, DMA, huge pages)
SLOT_ALIGN = 4096  # slot_size is a multiple of this, so every slot starts page-aligned
VIEW_ALIGN = 64  # a view's offset in its slot: one cache line, any SIMD load
MAX_SLOTS = 64
KEY_BYTES = 16
# magic, version, slot_count, slot_size, key; the rest of the header page is zero (reserved).
HEADER = struct.Struct(f"<8sIIQ{KEY_BYTES}s")


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Layout:
    """The geometry of a region: `slot_count` request slots then as many reply slots."""

    slot_count: int
    slot_size: int

    @property
    def size(self) -> int:
        return HEADER_SIZE + 2 * self.slot_count * self.slot_size

    def request_offset(self, slot: int) -> int:
        return HEADER_SIZE + slot * self.slot_size

    def reply_offset(self, slot: int) -> int:
        return HEADER_SIZE + (self.slot_count + slot) * self.slot_size

    def header(self, key: bytes) -> bytes:
        return HEADER.pack(MAGIC, VERSION, self.slot_count, self.slot_size, key)

    @classmethod
    def for_views(cls, view_bytes: list[int], slot_count: int) -> tuple[Layout, list[int]]:
        """The smallest layout whose slots hold views of these sizes, and each view's offset."""
        offsets, end = [], 0
        for n in view_bytes:
            offsets.append(end)
            end = _round_up(end + n, VIEW_ALIGN)
        return cls(slot_count, max(_round_up(end, SLOT_ALIGN), SLOT_ALIGN)), offsets


def new_key() -> bytes:
    """A region's key: the client writes it into the header and repeats it when registering."""
    return os.urandom(KEY_BYTES)
