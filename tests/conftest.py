"""Shared fixtures: real servers on loopback, real models directories, real images."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from artem_client import StylizerClient

from artem_server.frames import FrameLimits
from artem_server.loopback import LoopbackServer
from artem_server.models.card import ModelCard
from artem_server.models.generator import Generator, GeneratorConfig
from artem_server.models.store import write_entry
from artem_server.models.thumbnail import render_thumbnail
from artem_server.server import ServerConfig

ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(2)


def random_generator(
    seed: int, config: GeneratorConfig = GeneratorConfig(width=8, res_blocks=2)
) -> Generator:
    """A generator with random (seeded) weights, including non-trivial instance-norm affines."""
    torch.manual_seed(seed)
    net = Generator(config)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        net.deconv3.conv2d.weight.mul_(40.0)  # spread the output over 0..255 like a trained net
        net.deconv3.conv2d.bias.fill_(128.0)
    return net.eval()


def add_generator_entry(
    models_dir: Path, name: str, seed: int, config: GeneratorConfig | None = None
) -> Generator:
    net = random_generator(seed, config or GeneratorConfig(width=8, res_blocks=2))
    card = ModelCard(
        name=name,
        kind="generator",
        architecture=net.config.to_dict(),
        source="tests: random weights",
        license="test data",
    )
    write_entry(models_dir, card, net.state_dict(), render_thumbnail(net), half=False)
    return net


# Tests call it RunningServer: a real server on loopback, in this process.
RunningServer = LoopbackServer


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """In-process CLI runs point the root logger at this test's captured stderr, which pytest
    closes afterwards; background threads of longer-lived servers would then log into a closed
    file. Put the root logger back as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    add_generator_entry(d, "gen-a", seed=1)
    add_generator_entry(d, "gen-b", seed=2)
    return d


@pytest.fixture(scope="session")
def server(models_dir) -> Iterator[RunningServer]:
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            limits=FrameLimits(max_frame_bytes=4 * 1024 * 1024),
            watch_interval_s=0.2,
        )
    )
    yield s
    s.stop()


def native_has_tls(build: Path) -> bool:
    """Whether a CMake build of engine_clients/native found mbedTLS (libmbedtls-dev)."""
    cache = (build / "CMakeCache.txt").read_text()
    return not re.search(r"^MBEDTLS_INCLUDE_DIR:PATH=.*NOTFOUND", cache, re.M)


@dataclass(frozen=True)
class SecuredServer:
    """A server reached only over TLS with its bearer token, and the files a client needs."""

    address: str
    token: str
    token_file: Path
    ca: Path  # signed the server's certificate (for localhost and 127.0.0.1)
    other_ca: Path  # signed nothing the server presents


@pytest.fixture(scope="session")
def secured_server(models_dir, tmp_path_factory) -> Iterator[SecuredServer]:
    """As `artem serve --tls-cert --tls-key --token-file` runs: TLS with a certificate from a
    test CA, and every call but health checks refused without the token."""
    from certs import CertificateAuthority

    from artem_server.security import TlsFiles

    folder = tmp_path_factory.mktemp("secured")
    ca, other = CertificateAuthority(folder, "artem"), CertificateAuthority(folder, "other")
    issued = ca.issue("server", server=True)
    token = "native-T0ken-for-the-secured-server"
    (folder / "token").write_text(token + "\n")
    s = RunningServer(
        ServerConfig(
            port=0,
            models_dir=models_dir,
            device="cpu",
            tls=TlsFiles(issued.cert, issued.key),
            token=token,
        )
    )
    yield SecuredServer(s.address, token, folder / "token", ca.issued.cert, other.issued.cert)
    s.stop()


@pytest.fixture()
def client(server) -> Iterator[StylizerClient]:
    with StylizerClient(server.address) as c:
        yield c


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def native_build(tmp_path_factory) -> Path:
    """engine_clients/native built with CMake (Release). Needs CMake and a C++17 compiler (the
    core has no other dependency; libjpeg-turbo, when installed, adds the JPEG transport)."""
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("cmake or a C++ compiler is not on PATH")
    out = tmp_path_factory.mktemp("native-build")
    configure = subprocess.run(
        [
            "cmake",
            "-S",
            str(ROOT / "engine_clients" / "native"),
            "-B",
            str(out),
            "-DCMAKE_BUILD_TYPE=Release",
        ],
        capture_output=True,
        text=True,
    )
    if configure.returncode != 0:
        pytest.fail(configure.stdout + configure.stderr)
    made = subprocess.run(["cmake", "--build", str(out), "-j", "2"], capture_output=True, text=True)
    assert made.returncode == 0, made.stdout[-4000:] + made.stderr[-4000:]
    return out


@pytest.fixture(scope="session")
def builtin_adain():
    """stylizer(alpha, preserve_color, dtype): the shipped adain-lite model with its swirl style,
    a copy in `dtype` and channels-last (as the optimized backend holds it), on the CPU."""
    import copy

    from artem_server.models.adain_store import load_adain_model, load_adain_style
    from artem_server.models.adain_style import AdaINStylizer
    from artem_server.models.store import read_entry

    root = ROOT / "artem_server" / "builtin_models"
    model = load_adain_model(read_entry(root / "adain-lite"))
    style = load_adain_style(read_entry(root / "swirl"), model)

    def make(
        alpha: float = 1.0, preserve_color: bool = False, dtype: torch.dtype = torch.float32
    ) -> AdaINStylizer:
        s = AdaINStylizer(copy.deepcopy(model.net), style.stats, alpha, preserve_color)
        return s.to(dtype).to(memory_format=torch.channels_last).eval()

    return make
