"""Shared-memory regions as the server maps them: validation, mapping, ownership.

The byte layout (header, request and reply slots) is the protocol's (artem_protocol.shm,
docs/shared-memory.md); here the server checks a registration against it and maps the region.

The server maps regions it did not create: it must never unlink them, and on Python < 3.13
`multiprocessing.shared_memory` would hand them to the resource tracker, which unlinks them
when the server exits (bpo-39959). So the server opens them itself, untracked.

A region is the client's file, and the client may shrink it at any time (ftruncate): touching a
mapped page past the file's end raises SIGBUS, which kills the whole server. So the server
keeps the file open and checks its size (fstat) against every slot a frame touches, right
before it reads the request slot and again right before it writes the reply slot
(`Region.check_extent`); only a pinned region (CUDA) is written by the device while the model
runs, and a DMA into page-locked pages cannot fault. The name is opened without following
links and without blocking, and only a regular, non-empty file is mapped.

A region is bound to the client that made it: its header holds a random key that the
registration must repeat, so a stream that cannot read the region (another host, another user,
a client that only learnt the name) cannot have the server write into its reply slots; and
only a stream from this host may register a region at all (`is_local_peer`).
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import logging
import mmap
import os
import re
import stat
import threading

import numpy as np
from artem_protocol.pixels import rows_view
from artem_protocol.shm import (
    HEADER,
    HEADER_SIZE,
    KEY_BYTES,
    MAGIC,
    MAX_SLOTS,
    SLOT_ALIGN,
    VERSION,
    VIEW_ALIGN,
    Layout,
)

from .. import pinned
from ..errors import InvalidArgument, PermissionDenied, ResourceExhausted

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,200}")
_OPEN_FLAGS = (
    os.O_RDWR
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

log = logging.getLogger(__name__)


def is_local_peer(peer: str) -> bool:
    """Whether a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:...") is a
    client on this host: only such a client can have made a region the server can open."""
    if peer.startswith(("unix:", "unix-abstract:")):
        return True
    family, _, rest = peer.partition(":")
    if family not in ("ipv4", "ipv6"):
        return False
    host = rest.rsplit(":", 1)[0].strip("[]")
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def check_registration(name: str, size: int, slot_count: int, slot_size: int, key: bytes) -> Layout:
    """Validate a SessionConfig.shared_memory's fields (before touching the region)."""
    field = "config.shared_memory"
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidArgument(
            f"{field}.name = {name!r}: expected 1-200 letters, digits, '_', '-' or '.', "
            "not '.' or '..'"
        )
    if not 1 <= slot_count <= MAX_SLOTS:
        raise InvalidArgument(f"{field}.slot_count = {slot_count}: expected 1..{MAX_SLOTS}")
    if slot_size <= 0 or slot_size % SLOT_ALIGN:
        raise InvalidArgument(
            f"{field}.slot_size = {slot_size}: expected a positive multiple of {SLOT_ALIGN}"
        )
    layout = Layout(slot_count, slot_size)
    if size < layout.size:
        raise InvalidArgument(
            f"{field}.size = {size} is too small: {slot_count} request and {slot_count} "
            f"reply slots of {slot_size} bytes after a {HEADER_SIZE}-byte header need "
            f"{layout.size} bytes"
        )
    if len(key) != KEY_BYTES or not any(key):
        raise InvalidArgument(
            f"{field}.key has {len(key)} bytes{'' if any(key) else ', all zero'}: expected the "
            f"{KEY_BYTES} random bytes written into the region's header at offset 24 "
            f"(header version {VERSION}, docs/shared-memory.md)"
        )
    return layout


def _kind(mode: int) -> str:
    for test, what in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return what
    return "not a regular file"


class _Mapping:
    """A mapping of an existing named region, untracked (see the module docstring). On POSIX
    the file stays open, so its size can be checked before each access (`size`)."""

    def __init__(self, name: str) -> None:
        self.fd: int | None = None
        if os.name == "nt":  # a section's size is fixed at creation: nothing can shrink it
            from multiprocessing.shared_memory import SharedMemory

            self._shm: object | None = SharedMemory(name)  # Windows: no resource tracker
            self._mmap: mmap.mmap | None = None
            self.buf = self._shm.buf  # type: ignore[attr-defined]
            return
        import _posixshmem

        field = f"config.shared_memory.name = {name!r}"
        try:
            fd = _posixshmem.shm_open("/" + name, _OPEN_FLAGS, mode=0o600)
        except IsADirectoryError:
            raise InvalidArgument(f"{field} is a directory, not a shared-memory region") from None
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            raise InvalidArgument(
                f"{field} is a symbolic link: the server opens only the region itself, never a link"
            ) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidArgument(f"{field} is {_kind(st.st_mode)}, not a shared-memory region")
            if st.st_size == 0:
                raise InvalidArgument(
                    f"{field} is empty (0 bytes): expected a region with its header and "
                    "slots (docs/shared-memory.md)"
                )
            self._mmap = mmap.mmap(fd, st.st_size)
        except BaseException:
            os.close(fd)
            raise
        self.fd, self._shm = fd, None
        self.buf = memoryview(self._mmap)

    def size(self) -> int:
        """The file's size now (the client may have shrunk it since it was mapped)."""
        return os.fstat(self.fd).st_size if self.fd is not None else len(self.buf)

    def read(self, n: int) -> bytes:
        """The first `n` bytes, read through the file, not the mapping: never faults."""
        return os.pread(self.fd, n, 0) if self.fd is not None else bytes(self.buf[:n])

    def close(self) -> None:
        """Unmap. Raises BufferError while numpy views of `buf` live (never unmaps under them)."""
        if self._shm is not None:
            self._shm.close()  # type: ignore[attr-defined]
            return
        self.buf.release()
        assert self._mmap is not None
        self._mmap.close()
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Region:
    """A client's region as mapped by the server for one stream."""

    def __init__(
        self, name: str, size: int, layout: Layout, owner: object, key: bytes, pin: bool = True
    ) -> None:
        field = "config.shared_memory"
        try:
            self._map = _Mapping(name)
        except FileNotFoundError:
            raise InvalidArgument(
                f"{field}.name = {name!r}: no shared-memory region of that name exists on "
                "the server's host (shared memory works only when client and server share "
                "a machine)"
            ) from None
        except PermissionError:
            raise PermissionDenied(
                f"{field}.name = {name!r}: the server may not open that region"
            ) from None
        except OSError as e:
            raise InvalidArgument(
                f"{field}.name = {name!r}: the server cannot map it ({e.strerror})"
            ) from None
        self.name, self.layout, self.owner = name, layout, owner
        self.registered_size = size
        self.closed = False
        self._shrink_logged = False
        try:
            actual = min(len(self._map.buf), self._map.size())
            if actual < size:
                raise InvalidArgument(
                    f"{field}.size = {size}, but region {name!r} has only {actual} bytes"
                )
            magic, version, count, slot_size, held = HEADER.unpack(self._map.read(HEADER.size))
            if (magic, version, count, slot_size) != (
                MAGIC,
                VERSION,
                layout.slot_count,
                layout.slot_size,
            ):
                raise InvalidArgument(
                    f"{field}: region {name!r} has header (magic {magic!r}, version {version}, "
                    f"slot_count "
                    f"{count}, slot_size {slot_size}); expected ({MAGIC!r}, {VERSION}, "
                    f"{layout.slot_count}, "
                    f"{layout.slot_size}): write the header before registering "
                    f"(docs/shared-memory.md)"
                )
            if not hmac.compare_digest(held, key):
                raise PermissionDenied(
                    f"{field}.key does not match the key in region {name!r}'s header: only "
                    "the client that made a region may register it"
                )
        except BaseException:
            self._map.close()
            raise
        # Page-locked for the GPU (on CUDA machines): frames go between slots and the device by
        # DMA, with no copy on the CPU (artem_server/pinned.py, Pipeline.run(outputs=...)).
        self._pinned_at = pinned.register_buffer(self._map.buf) if pin else None

    @property
    def pinned(self) -> bool:
        """Page-locked for the device: results go into reply slots by DMA, which cannot fault."""
        return self._pinned_at is not None

    def check_extent(self, end: int, field: str) -> None:
        """Raise unless the file still holds bytes [0, end): call right before touching them,
        since a mapped page past the file's end faults (SIGBUS) and would kill the server."""
        size = self._map.size()
        if size < end:
            if not self._shrink_logged:  # once per region: a client may go on sending into it
                self._shrink_logged = True
                log.warning(
                    "shared-memory region %r shrank to %d bytes after it was registered with %d; "
                    "its frames are refused",
                    self.name,
                    size,
                    self.registered_size,
                )
            raise InvalidArgument(
                f"{field}: this frame's slot needs region {self.name!r} to hold {end} bytes, but "
                f"it has only "
                f"{size} now: the client shrank it after registering config.shared_memory.size = "
                f"{self.registered_size}; register it again at its new size"
            )

    def array(self, offset: int, height: int, width: int, bpp: int, row_stride: int) -> np.ndarray:
        """An (H, W, bpp) uint8 view of region bytes at `offset` (no copy; writable)."""
        return rows_view(self._map.buf, width, height, bpp, row_stride, offset)

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

    def __init__(self, pin: bool = True) -> None:
        self._lock = threading.Lock()  # regions close on the model thread, open on the event loop
        self._regions: dict[str, Region] = {}
        self._pin = pin  # page-lock regions for the device (a server that runs frames on CUDA)

    def open(
        self, name: str, size: int, slot_count: int, slot_size: int, owner: object, key: bytes
    ) -> Region:
        layout = check_registration(name, size, slot_count, slot_size, key)
        with self._lock:
            held = self._regions.get(name)
            if held is not None and held.owner is not owner:
                raise PermissionDenied(
                    f"config.shared_memory.name = {name!r} is registered by another stream; "
                    "a region serves one stream at a time"
                )
        region = Region(name, size, layout, owner, key, pin=self._pin)
        with self._lock:
            if self._regions.get(name) not in (None, held):
                region.close()
                raise PermissionDenied(
                    f"config.shared_memory.name = {name!r} is registered by another stream"
                )
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


def check_view_fits(
    layout: Layout, slot: int, offset: int, nbytes: int, field: str, max_frame_bytes: int
) -> None:
    """A view of `nbytes` at (slot, offset) must lie inside its slot, aligned."""
    if slot >= layout.slot_count:
        raise InvalidArgument(
            f"{field}.slot = {slot} is out of range: the region has {layout.slot_count} slots "
            f"(0..{layout.slot_count - 1})"
        )
    if offset % VIEW_ALIGN:
        raise InvalidArgument(f"{field}.offset = {offset}: expected a multiple of {VIEW_ALIGN}")
    if nbytes > max_frame_bytes:
        raise ResourceExhausted(
            f"{field}: a view of {nbytes} bytes exceeds this server's limit of "
            f"{max_frame_bytes} bytes (max_frame_bytes)"
        )
    if offset + nbytes > layout.slot_size:
        raise InvalidArgument(
            f"{field}: a view of {nbytes} bytes at offset {offset} does not fit in a slot of "
            f"{layout.slot_size} bytes"
        )
