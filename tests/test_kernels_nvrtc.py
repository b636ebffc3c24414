"""The kernels' module sources compile with NVRTC, as CuPy compiles them at run time.

NVRTC needs no GPU, only its library (the `nvidia-cuda-nvrtc` wheel, or a CUDA toolkit's):
it has no system headers and no include path, which nvcc's check cannot show. Skipped where no
libnvrtc is found; ARTEM_NVRTC may name the library file.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import re
import sys

import pytest
from artem_kernels import adain, convert, instnorm, xnor


def find_nvrtc() -> str | None:
    if os.environ.get("ARTEM_NVRTC"):
        return os.environ["ARTEM_NVRTC"]
    patterns = [
        os.path.join(d, "nvidia", sub, "lib", "libnvrtc.so*")
        for d in sys.path
        for sub in ("cu13", "cuda_nvrtc", "cu12")
    ]
    patterns += [
        "/usr/local/cuda/lib64/libnvrtc.so*",
        "/usr/local/cuda/targets/x86_64-linux/lib/libnvrtc.so*",
    ]
    for pattern in patterns:
        found = sorted(p for p in glob.glob(pattern) if ".alt." not in p)
        if found:
            return found[0]
    return ctypes.util.find_library("nvrtc")


NVRTC = find_nvrtc()
pytestmark = pytest.mark.skipif(
    NVRTC is None, reason="no libnvrtc here (pip install nvidia-cuda-nvrtc)"
)


def load_nvrtc() -> ctypes.CDLL:
    """libnvrtc, with its builtins library (found beside it, not on the loader's path) first."""
    for builtins in sorted(
        glob.glob(os.path.join(os.path.dirname(NVRTC), "libnvrtc-builtins.so*"))
    ):
        if ".alt." not in builtins:
            ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
    return ctypes.CDLL(NVRTC)


def nvrtc_ptx(source: str, name: str, arch: str) -> str:
    lib = load_nvrtc()
    prog = ctypes.c_void_p()
    assert (
        lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
        == 0
    )
    try:
        opts = [f"--gpu-architecture={arch}".encode()]
        rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        assert rc == 0, log.value.decode(errors="replace")
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, ptx)
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize(
    "loader", [convert, instnorm, adain, xnor], ids=["convert", "instnorm", "adain", "xnor"]
)
def test_module_source_compiles_with_nvrtc(loader, arch):
    ptx = nvrtc_ptx(loader.module_source(), f"{loader.__name__}.cu", arch)
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert set(loader.kernel_names()) <= entries
