"""glibc tuned for frame-sized buffers: the commands that stream frames run with FRAME_TUNABLES."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest
from artem_client import StylizerClient
from hardening_util import ServeProcess

from artem_server.transport import alloc

ALL = ":".join(f"{k}={v}" for k, v in alloc.FRAME_TUNABLES.items())
THRESHOLD = "glibc.cpu.x86_non_temporal_threshold"
GLIBC_X86 = (
    sys.platform.startswith("linux")
    and platform.machine() == "x86_64"
    and platform.libc_ver()[0] == "glibc"
)
needs_glibc_x86 = pytest.mark.skipif(
    not GLIBC_X86, reason="glibc's x86 tunables: x86-64 Linux with glibc only"
)


@needs_glibc_x86
def test_env_adds_the_tunables_beside_other_ones() -> None:
    assert alloc.frame_tunables_env({"HOME": "/h"}) == {"HOME": "/h", "GLIBC_TUNABLES": ALL}
    other = "glibc.malloc.tcache_count=0"
    assert alloc.frame_tunables_env({"GLIBC_TUNABLES": other})["GLIBC_TUNABLES"] == f"{other}:{ALL}"


@needs_glibc_x86
def test_env_keeps_a_users_own_values() -> None:
    own = f"{THRESHOLD}=0x800000"
    env = alloc.frame_tunables_env({"GLIBC_TUNABLES": own})
    assert env["GLIBC_TUNABLES"] == own + ":glibc.malloc.hugetlb=1"
    assert (
        alloc.frame_tunables_env(env) is None
    )  # all set: nothing to change, no second re-execution


def test_env_changes_nothing_off_linux(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    assert alloc.frame_tunables_env({}) is None


def _tunables(pid: int) -> str:
    """GLIBC_TUNABLES as the process started with it. ld.so parses it in place in the initial
    environment, which /proc shows (glibc 2.36 writes a NUL over each ':'), so the tunables after
    the first appear as entries of their own."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    start = next(i for i, e in enumerate(entries) if e.startswith("GLIBC_TUNABLES="))
    parts = [entries[start].split("=", 1)[1]]
    parts += [e for e in entries[start + 1 :] if e.startswith("glibc.")]
    return ":".join(parts)


@needs_glibc_x86
def test_serve_runs_with_the_tunables_and_serves(tmp_path, photo) -> None:
    """`artem serve` re-executes itself (same PID, so signals and supervisors still reach it)
    with the tunables, and serves frames."""
    if any(name in os.environ.get("GLIBC_TUNABLES", "") for name in alloc.FRAME_TUNABLES):
        pytest.skip("this environment sets one of the tunables already, which the server keeps")
    server = ServeProcess(tmp_path / "serve", ["--models-dir", str(tmp_path / "models")])
    try:
        assert _tunables(server.proc.pid) == ALL
        frame = np.ascontiguousarray(photo[:64, :96])
        with StylizerClient(server.address) as client:
            client.wait_ready(30)
            got = []
            client.stream(
                [[frame]],
                "identity",
                on_images=lambda i, images: got.append(images[0][..., :3].copy()),
            )
        np.testing.assert_array_equal(got[0], frame)
    finally:
        assert server.stop() == 0
