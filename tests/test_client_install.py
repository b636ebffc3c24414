"""The client installs on its own: a fresh virtual environment (no system site-packages) gets the
protocol and client packages built from the checkout, and only grpcio, protobuf and numpy
beside them (linked from the developer's environment: nothing downloads). There torch, Pillow
and the server cannot be imported, the client can, it streams frames through a real server
(started by this test process, from the developer's environment), and what the two packages
declare needing is exactly that light set."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LIGHT = ("grpcio", "protobuf", "numpy")  # what a client-only install may pull
DISTRIBUTIONS = {
    "artem-protocol": ROOT / "protocol",
    "artem-client": ROOT / "engine_clients/python",
}


def _run(*cmd, **kw) -> subprocess.CompletedProcess:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert run.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{run.stdout}\n{run.stderr}"
    return run


def _with_requirements(names: tuple[str, ...]) -> set[str]:
    """The distributions `names` need, themselves included (grpcio needs typing-extensions)."""
    seen, todo = set(), list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in importlib.metadata.requires(name) or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _link_light_packages(into: Path) -> None:
    """Links to the light set's installed files (their top-level packages and dist-info) and
    their own requirements': the only third-party code the fresh environment sees."""
    into.mkdir()
    for name in _with_requirements(LIGHT):
        dist = importlib.metadata.distribution(name)
        tops = {Path(f).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops - {"bin"}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)


@pytest.fixture(scope="module")
def light_python(tmp_path_factory) -> Path:
    """A fresh environment's python with artem-protocol and artem-client installed (built as
    wheels from copies of their folders, so the checkout gets no build files)."""
    tmp = tmp_path_factory.mktemp("client-install")
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    wheels = tmp / "wheels"
    for name, folder in DISTRIBUTIONS.items():
        copy = tmp / "src" / name
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
        build = ["wheel", "--quiet", "--no-deps", "--no-index", "--no-build-isolation"]
        _run(sys.executable, "-m", "pip", *build, "--wheel-dir", wheels, copy)
    install = ["install", "--quiet", "--no-deps", "--no-index", *sorted(wheels.glob("*.whl"))]
    _run(sys.executable, "-m", "pip", "--python", python, *install)
    _link_light_packages(tmp / "light")
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(site.stdout.strip()) / "artem-light.pth").write_text(f"{tmp / 'light'}\n")
    return python


def _python(python: Path, code: str, *args: str) -> dict:
    run = _run(python, "-c", textwrap.dedent(code), *args, cwd=python.parent)
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_client_alone_imports_without_torch_pillow_or_the_server(light_python):
    seen = _python(
        light_python,
        """
        import importlib.util, json, sys
        import artem_client, artem_client.load, artem_client.reconnect
        heavy = ["torch", "PIL", "skimage", "av", "hydra", "artem_server", "grpc_health"]
        print(json.dumps({
            "findable": [m for m in heavy if importlib.util.find_spec(m) is not None],
            "imported": [m for m in heavy if m in sys.modules],
            "client": artem_client.__file__,
        }))
        """,
    )
    assert seen["findable"] == [], "the fresh environment must not see heavy packages"
    assert seen["imported"] == []
    assert str(ROOT) not in seen["client"], "the client must come from its installed wheel"
    with pytest.raises(AssertionError, match="No module named 'torch'"):
        _run(light_python, "-c", "import torch")


def test_the_packages_declare_exactly_the_light_set(light_python):
    declared = _python(
        light_python,
        """
        import importlib.metadata as md, json, re
        def names(dist):
            return sorted(re.split(r"[ ;<>=!~\\[]", r, 1)[0].lower()
                          for r in md.requires(dist) or [] if "extra ==" not in r)
        print(json.dumps({d: names(d) for d in ("artem-protocol", "artem-client")}))
        """,
    )
    assert declared == {
        "artem-protocol": sorted(LIGHT),
        "artem-client": sorted(["artem-protocol", *LIGHT]),
    }
    # and nothing the installed packages need is missing from the fresh environment
    _run(sys.executable, "-m", "pip", "--python", light_python, "check")


@pytest.mark.parametrize("transport", ["inline", "shm"])
def test_the_light_client_streams_through_a_real_server(light_python, server, transport):
    """Identity frames through the server from the light client: each reply is the frame sent."""
    got = _python(
        light_python,
        """
        import json, sys
        import numpy as np
        from artem_client import StylizerClient
        from artem_protocol.rpc import pb
        rng = np.random.default_rng(0)
        frames = [[rng.integers(0, 256, (48, 64, 4), np.uint8) for _ in range(2)] for _ in range(3)]
        same = []
        with StylizerClient(sys.argv[1]) as client:
            client.wait_ready(timeout=60)
            stats = client.stream(
                frames, "identity", transport=sys.argv[2],
                on_images=lambda i, imgs: same.append(
                    all(np.array_equal(a, b) for a, b in zip(imgs, frames[i]))),
            )
        print(json.dumps({"received": stats.received, "same": same}))
        """,
        server.address,
        transport,
    )
    assert got == {"received": 3, "same": [True, True, True]}


def test_the_jpeg_transport_says_which_extra_it_needs(light_python, server):
    run = subprocess.run(
        [
            light_python,
            "-c",
            "import sys; from artem_client import StylizerClient; "
            "StylizerClient(sys.argv[1]).stream([[__import__('numpy').zeros((8, 8, 3), 'u1')]], "
            "'identity', transport='jpeg')",
            server.address,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "pip install 'artem-protocol[jpeg]' (or 'artem-client[jpeg]')" in run.stderr
