"""Shared fixtures: real servers on loopback, real models directories, real images."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from artem_client import StylizerClient
from artem_server.frames import FrameLimits
from artem_server.models.card import ModelCard
from artem_server.models.generator import Generator, GeneratorConfig
from artem_server.models.store import write_entry
from artem_server.models.thumbnail import render_thumbnail
from artem_server.server import ArtemServer, ServerConfig

torch.set_num_threads(2)


def random_generator(seed: int, config: GeneratorConfig = GeneratorConfig(width=8, res_blocks=2)) -> Generator:
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


def add_generator_entry(models_dir: Path, name: str, seed: int, config: GeneratorConfig | None = None) -> Generator:
    net = random_generator(seed, config or GeneratorConfig(width=8, res_blocks=2))
    card = ModelCard(name=name, kind="generator", architecture=net.config.to_dict(),
                     source="tests: random weights", license="test data")
    write_entry(models_dir, card, net.state_dict(), render_thumbnail(net), half=False)
    return net


class RunningServer:
    """An ArtemServer on a loopback port, run by its own event loop in a thread."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(60)
        if self._error:
            raise self._error
        self.address = f"127.0.0.1:{self.server.port}"

    def _run(self) -> None:
        async def main() -> None:
            try:
                self.server = ArtemServer(self.config)
                await self.server.start()
                self.loop = asyncio.get_running_loop()
                self._stop = asyncio.Event()
            except BaseException as e:
                self._error = e
                raise
            finally:
                self._ready.set()
            await self._stop.wait()
            await self.server.stop()

        asyncio.run(main())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    add_generator_entry(d, "gen-a", seed=1)
    add_generator_entry(d, "gen-b", seed=2)
    return d


@pytest.fixture(scope="session")
def server(models_dir) -> Iterator[RunningServer]:
    s = RunningServer(ServerConfig(port=0, models_dir=models_dir, device="cpu",
                                   limits=FrameLimits(max_frame_bytes=4 * 1024 * 1024), watch_interval_s=0.2))
    yield s
    s.stop()


@pytest.fixture()
def client(server) -> Iterator[StylizerClient]:
    with StylizerClient(server.address) as c:
        yield c


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()
