"""`artem client --source webcam|screen`: a machine without a camera or a display gets a clear
error naming the source before anything connects (no server is needed to see it), and a screen
region is parsed or refused by name."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from artem_server.sources.capture import parse_region


def artem_client(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # A port nothing listens on: the source must fail first, or the error would be the server's.
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "artem_server.cli",
            "client",
            "--server",
            "127.0.0.1:9",
            "--style",
            "nocturne",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="device paths are Linux's")
def test_webcam_without_a_camera_names_the_device(tmp_path):
    missing = tmp_path / "video9"
    run = artem_client("--source", f"webcam:{missing}", "--frames", "1")
    assert run.returncode == 2
    assert f"--source webcam: no camera at {missing}" in run.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="DISPLAY is X11's")
def test_screen_without_a_display_says_so():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    run = artem_client("--source", "screen", "--frames", "1", env=env)
    assert run.returncode == 2
    assert "--source screen: no display to capture" in run.stderr


def test_screen_region_is_parsed_or_refused_by_name():
    assert parse_region("10,20,300,200") == (10, 20, 310, 220)
    with pytest.raises(ValueError, match="expected screen:X,Y,W,H"):
        parse_region("10,20,300")
    with pytest.raises(ValueError, match="W and H > 0"):
        parse_region("0,0,0,10")
