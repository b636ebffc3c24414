"""The README's first command, shrunk: the demo script serves, streams, saves and stops cleanly."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_script_runs_end_to_end(tmp_path):
    env = dict(os.environ, FRAMES="3", SIZE="64x48", OUT=str(tmp_path / "out"))
    proc = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 frames" in proc.stdout and "p95" in proc.stdout
    assert "server stopped cleanly" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"frame_0000{i}.png" for i in range(3)
    ]
