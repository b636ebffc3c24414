"""Large pixel copies shared between the calling thread and helper threads.

One thread copies ~10 GB/s on a 2-core VM; a Quest 2 stereo frame (27 MiB) then takes ~2-4 ms,
a third of a 90 Hz frame. numpy releases the GIL while it copies, and with one frame in flight
the other side of the transport is idle, so helpers share the work.

Two things decide whether they actually do, both measured on the 2-core VM:
- Where a helper wakes. Between frames every thread sleeps (~45 ms at Quest 2 inline) and the
  vCPUs halt; the scheduler then woke the helper on the caller's own CPU in about half the
  frames, where it waited for the caller's half to finish: 27 MiB took 2.6 ms, worse than one
  thread (2.4). So helpers run on every allowed CPU but the caller's (set per copy, when the
  caller has moved): 1.6 ms.
- When a helper starts. Waking a halted vCPU takes ~0.1-0.3 ms, and a CPU may be busy with
  another thread. So the copy is cut into chunks that whoever is free takes in turn: the
  caller never waits for a helper that has not begun, only for chunks already taken.
"""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import threading
from collections.abc import Callable

import numpy as np

PARALLEL_MIN_BYTES = 4 << 20  # below this, waking helpers costs more than it saves
CHUNK_BYTES = 2 << 20  # a chunk copies in ~0.15 ms: late helpers still find work, few hand-offs
MAX_THREADS = 4  # memory bandwidth is spent by then


def _sched_getcpu() -> Callable[[], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):
        return None
    fn.restype, fn.argtypes = ctypes.c_int, ()
    return fn


class _Helpers:
    """Helper threads that take chunks of whatever copy is posted, kept off the caller's CPU."""

    def __init__(self, cpus: set[int], count: int) -> None:
        self.cpus = cpus
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.tids: list[int] = []
        self.busy = threading.Lock()  # one copy at a time uses them; others copy alone
        self._getcpu = _sched_getcpu() if hasattr(os, "sched_setaffinity") else None
        self._kept_off: int | None = None
        started = threading.Barrier(count + 1)
        for i in range(count):
            threading.Thread(
                target=self._run, args=(started,), name=f"artem-copy-{i}", daemon=True
            ).start()
        started.wait()

    def _run(self, started: threading.Barrier) -> None:
        self.tids.append(threading.get_native_id())
        started.wait()
        while True:
            self.jobs.get()()

    def keep_off_caller(self) -> None:
        """Allow the helpers every CPU but the one the calling thread runs on now."""
        if self._getcpu is None or len(self.cpus) < 2:
            return
        cpu = self._getcpu()
        if cpu == self._kept_off or cpu not in self.cpus:
            return
        for tid in self.tids:
            try:
                os.sched_setaffinity(tid, self.cpus - {cpu})
            except OSError:  # not permitted here (a seccomp or cgroup rule): helpers go anywhere
                self._getcpu = None
                return
        self._kept_off = cpu


_helpers: _Helpers | None = None
_lock = threading.Lock()


def _forget_helpers() -> None:
    """In a forked child: the helpers did not come along; start new ones when needed."""
    global _helpers, _lock
    _helpers, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers)


def allowed_cpus() -> set[int]:
    """The CPUs the calling thread may run on (taskset, a cgroup's cpuset: a process's threads
    share them unless one was set apart), not merely those installed."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def _get_helpers() -> _Helpers | None:
    global _helpers
    with _lock:
        if _helpers is None:
            cpus = allowed_cpus()
            threads = min(MAX_THREADS, len(cpus))
            if threads < 2:
                return None
            _helpers = _Helpers(cpus, threads - 1)
        return _helpers


def _chunks(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each pair cut into bands of whole rows of about CHUNK_BYTES (a pair below it is one band)."""
    bands = []
    for dst, src in pairs:
        if src.ndim == 0 or src.shape[0] < 2 or src.nbytes <= CHUNK_BYTES:
            bands.append((dst, src))
            continue
        rows = max(1, CHUNK_BYTES * src.shape[0] // src.nbytes)
        bands += [(dst[s : s + rows], src[s : s + rows]) for s in range(0, src.shape[0], rows)]
    return bands


def copy_many(pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """np.copyto(dst, src) for each (dst, src) pair of one shape, in row chunks that this
    thread and the helpers take in turn; returns when every row is written. One call for all
    of a frame's views wakes the helpers once."""
    if sum(src.nbytes for _, src in pairs) < PARALLEL_MIN_BYTES:
        for dst, src in pairs:
            np.copyto(dst, src)
        return
    helpers = _get_helpers()
    if helpers is None or not helpers.busy.acquire(blocking=False):
        for dst, src in pairs:
            np.copyto(dst, src)
        return
    try:
        bands = _chunks(pairs)
        lock = threading.Lock()
        taken, left = [0], [len(bands)]
        finished = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            while True:
                with lock:
                    i, taken[0] = taken[0], taken[0] + 1
                if i >= len(bands):
                    return
                try:
                    np.copyto(*bands[i])
                except BaseException as e:  # reported by the caller, after every chunk is done
                    failure.append(e)
                with lock:
                    left[0] -= 1
                    if left[0] == 0:
                        finished.set()

        helpers.keep_off_caller()
        for _ in helpers.tids:
            helpers.jobs.put(work)
        work()
        finished.wait()
    finally:
        helpers.busy.release()
    if failure:
        raise failure[0]
