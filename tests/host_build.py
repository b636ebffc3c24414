"""Build tests/cuda/*_host.cu into a shared library with nvcc, so the kernels' per-thread code
runs on the CPU under ctypes (nvcc is on CI's machine; tests skip without it)."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

HOST_SOURCES = Path(__file__).resolve().parent / "cuda"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")


def build_host_library(out_dir: Path, *sources: str) -> ctypes.CDLL:
    """One .so from the named host sources (e.g. "convert_host.cu"), loaded."""
    unit = out_dir / "host_unit.cu"
    unit.write_text("".join(f'#include "{HOST_SOURCES / name}"\n' for name in sources))
    out = unit.with_suffix(".so")
    subprocess.run(
        ["nvcc", "-shared", "-Xcompiler", "-fPIC", "-O2", "-o", str(out), str(unit)],
        check=True,
        capture_output=True,
    )
    return ctypes.CDLL(str(out))
