"""Every CUDA source under kernels/ compiles for the GPUs we target, without a GPU.

nvcc builds PTX for Ampere and Hopper and the resource report must show no local memory
(a register array indexed at run time lands there, and it is slow). The kernel names that
the Python loaders ask for must all be defined. Skipped where nvcc is not on PATH.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from artem_kernels import adain, convert, instnorm, xnor

KERNELS = Path(convert.__file__).resolve().parent
SOURCES = sorted(KERNELS.glob("*.cu"))
# What each source defines (adain.cu includes instnorm.cu, which includes convert.cu; xnor.cu
# includes convert.cu); the loaders ask for these names.
EXPECTED = {
    "convert.cu": set(convert.kernel_names()),
    "instnorm.cu": set(convert.kernel_names()) | set(instnorm.kernel_names()),
    "adain.cu": set(convert.kernel_names())
    | set(instnorm.kernel_names())
    | set(adain.kernel_names()),
    "xnor.cu": set(convert.kernel_names()) | set(xnor.kernel_names()),
}

pytestmark = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")


def test_there_are_sources():
    assert {p.name for p in SOURCES} == set(EXPECTED)


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_compiles_to_ptx(tmp_path, source: Path, arch: str):
    ptx = tmp_path / "out.ptx"
    run = subprocess.run(
        [
            "nvcc",
            "--ptx",
            f"-arch={arch}",
            "-std=c++14",
            "-Werror=all-warnings",
            "-o",
            str(ptx),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx.read_text()))
    assert entries == EXPECTED[source.name]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_local_memory(tmp_path, source: Path):
    run = subprocess.run(
        ["nvcc", "-c", "-arch=sm_90", "-Xptxas", "-v", "-o", str(tmp_path / "out.o"), str(source)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    frames = re.findall(r"(\d+) bytes stack frame, (\d+) bytes spill stores", run.stderr)
    assert frames, run.stderr
    assert all(int(stack) == 0 and int(spill) == 0 for stack, spill in frames), run.stderr
