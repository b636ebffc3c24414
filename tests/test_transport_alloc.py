"""glibc tuned for frame-sized buffers: the commands that stream frames run with streaming copies."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import numpy as np
import pytest

from artem_client import StylizerClient
from artem_server.transport import alloc

from hardening_util import ServeProcess

TUNABLE = f"{alloc.NON_TEMPORAL_TUNABLE}={alloc.NON_TEMPORAL_THRESHOLD:#x}"
GLIBC_X86 = sys.platform.startswith("linux") and platform.machine() == "x86_64" and platform.libc_ver()[0] == "glibc"
needs_glibc_x86 = pytest.mark.skipif(not GLIBC_X86, reason="glibc's x86 copy tunable: x86-64 Linux with glibc only")


@needs_glibc_x86
def test_env_adds_the_threshold_beside_other_tunables() -> None:
    assert alloc.streaming_copies_env({"HOME": "/h"}) == {"HOME": "/h", "GLIBC_TUNABLES": TUNABLE}
    other = "glibc.malloc.tcache_count=0"
    assert alloc.streaming_copies_env({"GLIBC_TUNABLES": other})["GLIBC_TUNABLES"] == f"{other}:{TUNABLE}"


def test_env_keeps_a_users_own_threshold() -> None:
    own = {"GLIBC_TUNABLES": f"{alloc.NON_TEMPORAL_TUNABLE}=0x800000"}
    assert alloc.streaming_copies_env(own) is None


def test_env_changes_nothing_off_linux(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    assert alloc.streaming_copies_env({}) is None


def _environ(pid: int) -> dict[str, str]:
    pairs = (item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if item)
    return dict(pairs)


@needs_glibc_x86
def test_serve_runs_with_streaming_copies_and_serves(tmp_path, photo) -> None:
    """`artem serve` re-executes itself (same PID, so signals and supervisors still reach it)
    with the tunable, and serves frames."""
    if alloc.NON_TEMPORAL_TUNABLE in os.environ.get("GLIBC_TUNABLES", ""):
        pytest.skip("this environment already sets the threshold, which the server keeps")
    server = ServeProcess(tmp_path / "serve", ["--models-dir", str(tmp_path / "models")])
    try:
        assert TUNABLE in _environ(server.proc.pid).get("GLIBC_TUNABLES", "")
        frame = np.ascontiguousarray(photo[:64, :96])
        with StylizerClient(server.address) as client:
            client.wait_ready(30)
            got = []
            client.stream([[frame]], "identity", on_images=lambda i, images: got.append(images[0][..., :3].copy()))
        np.testing.assert_array_equal(got[0], frame)
    finally:
        assert server.stop() == 0
