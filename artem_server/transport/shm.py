"""Shared-memory regions: the byte layout both sides follow, and the server's mappings.

On one host, pixels need not pay for the gRPC pipe (~0.7 GB/s in Python on loopback, while a
memory copy runs at >10 GB/s): the client creates a region, registers it in its session
config, and frames name slots in it (NVIDIA Triton's system-shared-memory pattern). The exact
layout and protocol are in docs/shared-memory.md; the C++ engine client implements the same.

Layout (little-endian):

    offset 0      header, HEADER_SIZE (4096) bytes: MAGIC, version, slot_count, slot_size
    4096          request slot 0, 1, ..., slot_count - 1   (client writes, server reads)
    4096 + n*S    reply slot 0, 1, ..., slot_count - 1     (server writes, client reads)

The server maps regions it did not create: it must never unlink them, and on Python < 3.13
`multiprocessing.shared_memory` would hand them to the resource tracker, which unlinks them
when the server exits (bpo-39959). So the server opens them itself, untracked.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import sys
import threading
from dataclasses import dataclass

import numpy as np

from .. import pinned
from ..errors import InvalidArgument, PermissionDenied, ResourceExhausted

MAGIC = b"ARTEMSHM"
VERSION = 1
HEADER_SIZE = 4096  # one page: slots start page-aligned (cudaHostRegister, DMA, huge pages)
SLOT_ALIGN = 4096  # slot_size is a multiple of this, so every slot starts page-aligned
VIEW_ALIGN = 64  # a view's offset in its slot: one cache line, any SIMD load
MAX_SLOTS = 64
# magic, version, slot_count, slot_size; the rest of the header page is zero (reserved).
HEADER = struct.Struct("<8sIIQ")
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,200}")


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

    def header(self) -> bytes:
        return HEADER.pack(MAGIC, VERSION, self.slot_count, self.slot_size)

    @classmethod
    def for_views(cls, view_bytes: list[int], slot_count: int) -> tuple["Layout", list[int]]:
        """The smallest layout whose slots hold views of these sizes, and each view's offset."""
        offsets, end = [], 0
        for n in view_bytes:
            offsets.append(end)
            end = _round_up(end + n, VIEW_ALIGN)
        return cls(slot_count, max(_round_up(end, SLOT_ALIGN), SLOT_ALIGN)), offsets


def check_registration(name: str, size: int, slot_count: int, slot_size: int) -> Layout:
    """Validate a SessionConfig.shared_memory's fields (before touching the region)."""
    field = "config.shared_memory"
    if not _NAME.fullmatch(name):
        raise InvalidArgument(f"{field}.name = {name!r}: expected 1-200 letters, digits, '_', '-' or '.'")
    if not 1 <= slot_count <= MAX_SLOTS:
        raise InvalidArgument(f"{field}.slot_count = {slot_count}: expected 1..{MAX_SLOTS}")
    if slot_size <= 0 or slot_size % SLOT_ALIGN:
        raise InvalidArgument(f"{field}.slot_size = {slot_size}: expected a positive multiple of {SLOT_ALIGN}")
    layout = Layout(slot_count, slot_size)
    if size < layout.size:
        raise InvalidArgument(f"{field}.size = {size} is too small: {slot_count} request and {slot_count} "
                              f"reply slots of {slot_size} bytes after a {HEADER_SIZE}-byte header need "
                              f"{layout.size} bytes")
    return layout


class _Mapping:
    """A mapping of an existing named region, untracked (see the module docstring)."""

    def __init__(self, name: str) -> None:
        if os.name == "nt":
            from multiprocessing.shared_memory import SharedMemory

            self._shm: object | None = SharedMemory(name)  # Windows: no resource tracker
            self._mmap: mmap.mmap | None = None
            self.buf = self._shm.buf  # type: ignore[attr-defined]
        elif sys.version_info >= (3, 13):
            from multiprocessing.shared_memory import SharedMemory

            self._shm = SharedMemory(name, track=False)  # type: ignore[call-arg]
            self._mmap = None
            self.buf = self._shm.buf  # type: ignore[attr-defined]
        else:
            import _posixshmem

            fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=0o600)
            try:
                self._mmap = mmap.mmap(fd, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            self._shm = None
            self.buf = memoryview(self._mmap)

    def close(self) -> None:
        """Unmap. Raises BufferError while numpy views of `buf` are alive (never unmaps under them)."""
        if self._shm is not None:
            self._shm.close()  # type: ignore[attr-defined]
        else:
            self.buf.release()
            assert self._mmap is not None
            self._mmap.close()


class Region:
    """A client's region as mapped by the server for one stream."""

    def __init__(self, name: str, size: int, layout: Layout, owner: object) -> None:
        field = "config.shared_memory"
        try:
            self._map = _Mapping(name)
        except FileNotFoundError:
            raise InvalidArgument(f"{field}.name = {name!r}: no shared-memory region of that name exists on "
                                  "the server's host (shared memory works only when client and server share "
                                  "a machine)") from None
        except PermissionError:
            raise PermissionDenied(f"{field}.name = {name!r}: the server may not open that region") from None
        self.name, self.layout, self.owner = name, layout, owner
        self.closed = False
        try:
            actual = len(self._map.buf)
            if actual < size:
                raise InvalidArgument(f"{field}.size = {size}, but region {name!r} has only {actual} bytes")
            magic, version, count, slot_size = HEADER.unpack_from(self._map.buf, 0)
            if (magic, version, count, slot_size) != (MAGIC, VERSION, layout.slot_count, layout.slot_size):
                raise InvalidArgument(
                    f"{field}: region {name!r} has header (magic {magic!r}, version {version}, slot_count "
                    f"{count}, slot_size {slot_size}); expected ({MAGIC!r}, {VERSION}, {layout.slot_count}, "
                    f"{layout.slot_size}): write the header before registering (docs/shared-memory.md)")
        except BaseException:
            self._map.close()
            raise
        # Page-locked for the GPU (on CUDA machines): frames go between slots and the device by
        # DMA, with no copy on the CPU (artem_server/pinned.py, Pipeline.run(outputs=...)).
        self._pinned_at = pinned.register_buffer(self._map.buf)

    def array(self, offset: int, height: int, width: int, bpp: int, row_stride: int) -> np.ndarray:
        """An (H, W, bpp) uint8 view of region bytes at `offset` (no copy; writable)."""
        flat = np.frombuffer(self._map.buf, dtype=np.uint8, count=row_stride * (height - 1) + width * bpp,
                             offset=offset)
        return np.lib.stride_tricks.as_strided(flat, shape=(height, width, bpp), strides=(row_stride, bpp, 1))

    def close(self) -> None:
        if not self.closed:
            if self._pinned_at is not None:
                pinned.unregister_address(self._pinned_at)
                self._pinned_at = None
            self._map.close()
            self.closed = True


class RegionTable:
    """Which live stream holds which region name, across all streams of one server: a name is
    registered by one stream at a time, so no two streams write the same reply slots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # regions close on the model thread, open on the event loop
        self._regions: dict[str, Region] = {}

    def open(self, name: str, size: int, slot_count: int, slot_size: int, owner: object) -> Region:
        layout = check_registration(name, size, slot_count, slot_size)
        with self._lock:
            held = self._regions.get(name)
            if held is not None and held.owner is not owner:
                raise PermissionDenied(f"config.shared_memory.name = {name!r} is registered by another stream; "
                                       "a region serves one stream at a time")
        region = Region(name, size, layout, owner)
        with self._lock:
            if self._regions.get(name) not in (None, held):
                region.close()
                raise PermissionDenied(f"config.shared_memory.name = {name!r} is registered by another stream")
            self._regions[name] = region
        return region

    def release(self, region: Region) -> None:
        """Unmap `region` and free its name, unless a newer registration of it took its place."""
        import gc

        try:
            region.close()
        except BufferError:
            gc.collect()  # a frame's views may linger in a reference cycle (an exception's frames)
            region.close()
        with self._lock:
            if self._regions.get(region.name) is region:
                del self._regions[region.name]

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._regions)

    def close_all(self) -> None:
        with self._lock:
            regions = list(self._regions.values())
        for r in regions:
            self.release(r)


def check_view_fits(layout: Layout, slot: int, offset: int, nbytes: int, field: str,
                    max_frame_bytes: int) -> None:
    """A view of `nbytes` at (slot, offset) must lie inside its slot, aligned."""
    if slot >= layout.slot_count:
        raise InvalidArgument(f"{field}.slot = {slot} is out of range: the region has {layout.slot_count} slots "
                              f"(0..{layout.slot_count - 1})")
    if offset % VIEW_ALIGN:
        raise InvalidArgument(f"{field}.offset = {offset}: expected a multiple of {VIEW_ALIGN}")
    if nbytes > max_frame_bytes:
        raise ResourceExhausted(f"{field}: a view of {nbytes} bytes exceeds this server's limit of "
                                f"{max_frame_bytes} bytes (max_frame_bytes)")
    if offset + nbytes > layout.slot_size:
        raise InvalidArgument(f"{field}: a view of {nbytes} bytes at offset {offset} does not fit in a slot of "
                              f"{layout.slot_size} bytes")
