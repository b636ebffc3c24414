"""The Unity package's binding (engine_clients/unity/Runtime) compiled with Mono's C# compiler
and run against a real server through the native core, as a Unity scene would call it.

Needs Mono (`mcs`, `mono`; Debian: mono-devel, which .ci/run installs) and the native build;
skipped without them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

UNITY = Path(__file__).resolve().parents[1] / "engine_clients" / "unity"


@pytest.fixture(scope="module")
def roundtrip_exe(tmp_path_factory) -> Path:
    if shutil.which("mcs") is None or shutil.which("mono") is None:
        pytest.skip("Mono is not installed (apt-get install mono-devel)")
    out = tmp_path_factory.mktemp("unity") / "RoundTrip.exe"
    sources = sorted((UNITY / "Runtime").glob("*.cs")) + [UNITY / "Tests~" / "RoundTrip.cs"]
    done = subprocess.run(["mcs", "-warnaserror", "-r:System.Core", f"-out:{out}", *map(str, sources)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_package_manifest_names_the_runtime_assembly():
    import json

    manifest = json.loads((UNITY / "package.json").read_text())
    assembly = json.loads((UNITY / "Runtime" / "ArtEm.Stylizer.asmdef").read_text())
    assert manifest["name"] == "com.artem.stylizer" and manifest["version"]
    assert assembly["name"] == "ArtEm.Stylizer" and assembly["noEngineReferences"] is True


def test_binding_streams_through_shared_memory(native_build, roundtrip_exe, server):
    """Identity frames come back unchanged through the region; a style switch on the same
    stream changes them and keeps alpha; refusals arrive as ArtemException with the status code."""
    env = {**os.environ, "LD_LIBRARY_PATH": str(native_build)}
    done = subprocess.run(["mono", str(roundtrip_exe), server.address], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all checks passed" in done.stdout
    assert "unknown style: code 5" in done.stdout and "slot out of range: code 3" in done.stdout
