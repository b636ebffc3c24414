"""Keep freed frame-sized buffers in the process instead of handing them back to the kernel.

Every inline frame makes multi-MB buffers (gRPC's receive and send copies, the message bytes).
glibc serves requests over its mmap threshold with a fresh mmap and unmaps them on free, and trims
the heap top past its trim threshold; either way the next frame's buffer is new memory whose
first touch page-faults. Measured on a 2-core VM, building one 27 MiB message took ~13 ms of
which ~10 ms were page faults, against ~3 ms on reused pages. Raising both thresholds keeps the
pages (RSS stays at a few frames' worth) and makes each frame's buffers reuse them.

Threads other than the first get arenas of their own, made of 64 MiB heaps that glibc unmaps
whenever one empties, whatever the thresholds: a client whose gRPC thread builds each request
faulted ~4,000-8,000 pages a Quest 2 frame. One arena for the process keeps those too (measured:
0 faults a frame in client and server, the client's CPU per frame 39 -> 34 ms).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for it on 64-bit: buffers up to 32 MiB come from the heap
TRIM_THRESHOLD = 1 << 30


def keep_frame_buffers() -> bool:
    """Tune glibc malloc for frame-sized buffers (Linux); returns whether it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
        ok = libc.mallopt(_M_ARENA_MAX, 1) == 1 and ok  # before threads start: they share the main arena
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    if not ok:
        log.debug("mallopt refused the frame-buffer thresholds")
    return ok
