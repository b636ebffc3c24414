"""glibc tuned for frame-sized buffers: keep the freed ones, copy past the cache, huge pages.

Keeping them. Every inline frame makes multi-MB buffers (gRPC's receive and send copies, the
message bytes). glibc serves large requests with a fresh mmap and unmaps them on free, gives
threads other than the first arenas of 64 MiB heaps that it unmaps whenever one empties, and
trims the heap top past its trim threshold; each way the next frame's buffer is new memory
whose first touch page-faults. So: no mmap for any size, one arena for every thread, and a
high trim threshold. The pages then stay (RSS holds a few frames' worth) and each frame
reuses them.

Measured on a 2-core VM with /proc's counters over 30-40 round trips of identity frames:
- Quest 3 stereo (35 MiB messages, over glibc's largest mmap threshold), inline: 17,800 page
  faults a frame in the echo server and 7,000-10,000 in the client before. After: none.
  Inline went from 10.3-10.6 to 12.8-13.5 fps.
- Quest 2 stereo: the client's gRPC thread faulted 4,000-8,000 pages a frame in its own arena.
  One arena brought that to 0 and cut the client's CPU per frame from 39 to 34 ms.

Copying past the cache. A frame's pixels are copied once on each side (the client's request,
the reply's pixels) into memory that gRPC reads next from DRAM: the frame is larger than any
cache share it gets. glibc's memcpy writes with non-temporal stores (no read for ownership of
the destination) only above a threshold derived from the L3 size that CPUID reports, and a VM
reports its host's whole L3: 480 MiB on the 2-core VM, a threshold of 190 MB, so every frame
copy wrote through the cache. The threshold is a tunable read once at process start
(GLIBC_TUNABLES), so the commands that stream frames re-execute themselves with it at 64 KiB.
Measured on that VM (`bench/transport.py --sizes quest2,vive --transports inline,shm`, all
processes with and without): at 1 MiB, the server's transfer time per Quest 2 frame 4.7 -> 3.3
ms, inline 0.84x -> 0.88x of the raw echo; Vive 1.9 -> 1.6 ms, 0.77x -> 0.80x. Why 64 KiB:
grpcio's receive copies every message twice more in slices of 64 KiB (each slice into a bytes
object, that into a growing bytearray; a uprobe on memmove counted 6.7 GB of such copies in 40
Quest 2 round trips, as much as all the larger copies), and through the cache those flushed
everything else out of it. Past the cache too (1 MiB -> 64 KiB, alternating runs): the raw
echo 22.5/21.9 -> 25.1/24.6 fps, inline 20.0/19.5 -> 22.2/22.0, shm 249/238 -> 265/251 at
Quest 2; CPU models no slower (small-stereo eager fp32, three pairs: generator 202/212/196 ->
194/197/187 ms, adain 509/487/492 -> 481/462/442 ms).

Huge pages. The same re-execution puts malloc's heap on transparent huge pages
(glibc.malloc.hugetlb=1; the kernel's THP mode is "madvise" there): a 27 MiB frame spans 14
pages instead of 6,900. Two back-to-back pairs of runs, without and with: Quest 2 inline
19.0/19.1 -> 19.8/19.6 fps (0.87x -> 0.88-0.89x of the echo, which gained 1-3%).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
import sys
from collections.abc import Mapping

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
TRIM_THRESHOLD = 1 << 30


def keep_frame_buffers() -> bool:
    """Tune glibc malloc for frame-sized buffers (Linux); returns whether it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1  # every size from the heap, whose pages stay
        ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
        ok = (
            libc.mallopt(_M_ARENA_MAX, 1) == 1 and ok
        )  # before threads start: they share the main arena
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    if not ok:
        log.debug("mallopt refused the frame-buffer thresholds")
    return ok


# Read once at process start (GLIBC_TUNABLES), so set by re-executing: see the module's docstring.
FRAME_TUNABLES = {
    "glibc.cpu.x86_non_temporal_threshold": "0x10000",  # copies of 64 KiB and more bypass the cache
    "glibc.malloc.hugetlb": "1",  # the heap on transparent huge pages (where THP is "madvise")
}


def frame_tunables_env(environ: Mapping[str, str]) -> dict[str, str] | None:
    """`environ` with FRAME_TUNABLES added to GLIBC_TUNABLES, each unless set there already (a
    value of the user's own is kept); None where nothing is to change or the platform is not
    x86-64 Linux with glibc."""
    if not sys.platform.startswith("linux") or platform.machine() != "x86_64":
        return None
    if platform.libc_ver()[0] != "glibc":
        return None
    tunables = environ.get("GLIBC_TUNABLES", "")
    present = {item.split("=", 1)[0] for item in tunables.split(":") if item}
    added = [f"{name}={value}" for name, value in FRAME_TUNABLES.items() if name not in present]
    if not added:
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(([tunables] if tunables else []) + added)}


def apply_frame_tunables() -> None:
    """Re-execute this process (same PID, same command line) with FRAME_TUNABLES, once. Call it
    first thing in a command that streams frames, before any thread or output."""
    env = frame_tunables_env(os.environ)
    if env is None or not sys.executable or not sys.orig_argv:  # embedded: nothing to run again
        return
    try:
        os.execve(sys.executable, sys.orig_argv, env)
    except OSError as e:  # not fatal: frames are copied as glibc chooses, a little slower
        log.warning("could not re-execute with GLIBC_TUNABLES=%s: %s", env["GLIBC_TUNABLES"], e)
