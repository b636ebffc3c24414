"""The three distributions (artem-protocol in protocol/, artem-client in engine_clients/python/,
artem at the root) each list every package in their folders: one left out is missing from a
wheel, while an editable install would hide it. And their imports point one way: the protocol
imports nothing of ours, the client only the protocol, the server never the client (but inside
its client commands)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parent.parent
PYPROJECTS = ["pyproject.toml", "protocol/pyproject.toml", "engine_clients/python/pyproject.toml"]


@pytest.mark.parametrize("pyproject", PYPROJECTS)
def test_every_package_folder_is_listed(pyproject):
    path = ROOT / pyproject
    setuptools = tomllib.loads(path.read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    folders = setuptools.get("package-dir", {})
    found = set()
    for top in {p.split(".")[0] for p in listed}:
        folder = path.parent / folders.get(top, top)
        for init in folder.rglob("__init__.py"):
            parts = init.parent.relative_to(folder).parts
            found.add(".".join((top, *parts)))
    assert found == listed, f"{pyproject}: packages found on disk vs listed"


WATCHED = ["artem_protocol", "artem_client", "artem_server", "artem_training", "torch", "PIL"]


def _imported_after(modules: list[str]) -> list[str]:
    """Which of WATCHED (our packages, torch, Pillow) a fresh interpreter holds after importing
    `modules`."""
    code = (
        f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps([p for p in {WATCHED!r} if p in sys.modules]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def _modules(package: str, folder: Path) -> list[str]:
    return sorted(
        ".".join((package, *p.relative_to(folder).with_suffix("").parts)).removesuffix(".__init__")
        for p in folder.rglob("*.py")
    )


def test_the_protocol_imports_nothing_of_ours():
    modules = _modules("artem_protocol", ROOT / "protocol" / "artem_protocol")
    assert _imported_after(modules) == ["artem_protocol"]


def test_the_client_imports_only_the_protocol():
    modules = _modules("artem_client", ROOT / "engine_clients" / "python" / "artem_client")
    assert _imported_after(modules) == ["artem_protocol", "artem_client"]


def test_the_server_does_not_import_the_client():
    runtime = [
        "artem_server.server",
        "artem_server.service",
        "artem_server.cli",
        "artem_server.frame_step",
        "artem_server.transport.carriers",
        "artem_server.transport.handlers",
    ]
    assert "artem_client" not in _imported_after(runtime)
