"""artem_protocol.copy: frame copies shared with helper threads give np.copyto's result, for one
array or a message's parts, from any number of callers at once, and the helpers stay off the
caller's CPU."""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest
from artem_protocol import copy as tcopy

FRAME = (1920, 1832, 4)  # one Quest 2 eye, RGBA8: 13.4 MiB, several chunks


def _pattern(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize(
    "shape",
    [
        FRAME,
        (
            2 * 1920 * 1832 * 4 + 13,
        ),  # a flat message buffer whose length is no multiple of anything
        (3, 1 << 22),  # rows larger than a chunk: one row per chunk
        (1201, 1081, 3),  # odd rows and an odd width, RGB8
        (100, 64),  # below the threshold: copied by the caller alone
    ],
)
def test_copy_equals_copyto(shape):
    src = _pattern(shape, 1)
    dst = np.zeros_like(src)
    tcopy.copy_many([(dst, src)])
    np.testing.assert_array_equal(dst, src)


def test_copy_many_fills_one_message_from_its_parts():
    """The client's request: small header parts and two eyes' pixels, into one flat buffer."""
    parts = [
        np.frombuffer(b"\x12\x07header", np.uint8),
        _pattern(FRAME, 5).reshape(-1),
        np.frombuffer(b"\x1a\x03mid", np.uint8),
        _pattern(FRAME, 6).reshape(-1),
        np.zeros(0, np.uint8),
    ]
    buf = np.zeros(sum(p.size for p in parts), np.uint8)
    pairs, pos = [], 0
    for p in parts:
        pairs.append((buf[pos : pos + p.size], p))
        pos += p.size
    tcopy.copy_many(pairs)
    np.testing.assert_array_equal(buf, np.concatenate(parts))


def test_copy_into_strided_rows():
    """A slot or reply view with padded rows: only the view's pixels change."""
    src = _pattern(FRAME, 2)
    padded = np.full((FRAME[0], FRAME[1] * 4 + 64), 7, np.uint8)
    dst = padded[:, : FRAME[1] * 4].reshape(FRAME)
    tcopy.copy_many([(dst, src)])
    np.testing.assert_array_equal(dst, src)
    assert (padded[:, FRAME[1] * 4 :] == 7).all()


def test_concurrent_callers_each_get_their_frame():
    """Streams copy at once: one caller has the helpers, the others copy alone; none mixes rows."""
    srcs = [_pattern(FRAME, 10 + i) for i in range(4)]
    dsts = [np.zeros_like(s) for s in srcs]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            for _ in range(3):
                tcopy.copy_many([(dsts[i], srcs[i])])
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for d, s in zip(dsts, srcs):
        np.testing.assert_array_equal(d, s)


def test_a_failed_copy_raises_and_the_next_one_works():
    src = _pattern(FRAME, 3)
    readonly = np.zeros_like(src)
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        tcopy.copy_many([(readonly, src)])
    dst = np.zeros_like(src)
    tcopy.copy_many([(dst, src)])
    np.testing.assert_array_equal(dst, src)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(tcopy.allowed_cpus()) < 2,
    reason="needs Linux thread affinity and two allowed CPUs",
)
def test_helpers_stay_off_the_callers_cpu():
    """A helper woken on the caller's CPU would wait for the caller's share (measured: slower
    than one thread), so every helper may run anywhere but there."""
    helpers = tcopy._get_helpers()  # made before this thread is pinned: they know every CPU
    assert helpers is not None and helpers.tids
    allowed = helpers.cpus
    src, dst = _pattern(FRAME, 4), np.zeros(FRAME, np.uint8)
    try:
        for cpu in sorted(allowed)[:2]:
            os.sched_setaffinity(0, {cpu})  # this thread only
            tcopy.copy_many([(dst, src)])
            for tid in helpers.tids:
                assert os.sched_getaffinity(tid) == allowed - {cpu}
    finally:
        os.sched_setaffinity(0, allowed)
    np.testing.assert_array_equal(dst, src)


@pytest.mark.skipif(
    not hasattr(os, "fork") or len(tcopy.allowed_cpus()) < 2, reason="needs fork and two CPUs"
)
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_copies_with_helpers_of_its_own():
    """Threads do not survive fork: the child starts its own helpers rather than posting chunks
    to threads that are not there (which would keep every frame alive in their queue)."""
    src = _pattern(FRAME, 7)
    tcopy.copy_many([(np.zeros_like(src), src)])  # the parent's helpers exist
    parent = tcopy._get_helpers()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        ok = False
        try:
            dst = np.zeros_like(src)
            tcopy.copy_many([(dst, src)])
            mine = tcopy._get_helpers()
            ok = (
                np.array_equal(dst, src)
                and mine is not parent
                and len(mine.tids) == len(parent.tids)
            )
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"
