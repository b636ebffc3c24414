"""The fused CUDA path's Python code, run on the CPU with the kernels' host twins.

artem_kernels' launchers and the pipeline's and FusedGenerator's CUDA branches normally run
only on a GPU. Here each kernel launch calls the host-compiled kernel body of the same name
and parameter list (tests/cuda/*_host.cu), so the argument lists, validation, shapes, layouts
and the pipeline's fused branch are checked end to end against the torch path without a GPU.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
import torch
from artem_kernels import adain, convert, instnorm
from conftest import random_generator
from host_build import build_host_library, needs_nvcc

from artem_server.backends.fused_adain import FusedAdaIN
from artem_server.backends.fused_generator import FusedGenerator
from artem_server.frames import PixelFormat, View
from artem_server.models.generator import Generator, GeneratorConfig
from artem_server.pipeline import Pipeline

pytestmark = needs_nvcc


class HostKernel:
    """Calls host_<name> with a launch's arguments, converted as CuPy would pass them."""

    def __init__(self, lib: ctypes.CDLL, name: str) -> None:
        self.fn = getattr(lib, name.replace("artem_", "host_", 1))
        self.name = name

    def __call__(self, args: tuple) -> None:
        converted = []
        for a in args:
            if isinstance(a, torch.Tensor):
                assert a.device.type == "cpu", f"{self.name}: a {a.device} tensor"
                converted.append(ctypes.c_void_p(a.data_ptr()))
            elif isinstance(a, np.int32):
                converted.append(ctypes.c_int(int(a)))
            elif isinstance(a, np.float32):
                converted.append(ctypes.c_float(float(a)))
            elif isinstance(a, np.float64):
                converted.append(ctypes.c_double(float(a)))
            elif isinstance(a, np.uintp):
                converted.append(ctypes.c_void_p(int(a) or None))
            else:
                raise TypeError(
                    f"{self.name}: argument of type {type(a).__name__} would not reach a kernel"
                )
        self.fn(*converted)


class HostModule:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib

    def get_function(self, name: str) -> HostKernel:
        return HostKernel(self.lib, name)


@pytest.fixture(scope="module")
def host_lib(tmp_path_factory) -> ctypes.CDLL:
    return build_host_library(
        tmp_path_factory.mktemp("host"), "convert_host.cu", "instnorm_host.cu", "adain_host.cu"
    )


@pytest.fixture()
def emulated(monkeypatch, host_lib) -> None:
    module = HostModule(host_lib)
    monkeypatch.setattr(convert, "REQUIRE_CUDA", False)
    monkeypatch.setattr(convert, "_module", lambda device_index: module)
    monkeypatch.setattr(instnorm, "_module", lambda device_index: module)
    monkeypatch.setattr(adain, "_module", lambda device_index: module)
    monkeypatch.setattr(convert, "_launch", lambda kernel, total, args: kernel(args))


def views(photo: np.ndarray, fmt: PixelFormat, linear: bool, h: int, w: int) -> list[View]:
    out = []
    for dx in (0, 9):
        px = np.empty((h, w, fmt.bpp), np.uint8)
        px[..., list(fmt.rgb_order)] = photo[:h, dx : dx + w]
        if fmt.alpha_index is not None:
            px[..., fmt.alpha_index] = np.arange(w, dtype=np.uint8)[None, :]
        out.append(View(px, fmt, linear))
    return out


class HalfNet(torch.nn.Module):
    """A generator run in fp16 channels-last, as the optimized backend feeds it."""

    dtype = torch.float16
    channels_last = True
    size_multiple = 4

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.float16 and x.is_contiguous(memory_format=torch.channels_last)
        return self.net(x.float()).half().contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize(
    "fmt,linear,strength,scale,half",
    [
        (PixelFormat.RGBA8, False, 1.0, 1.0, False),
        (PixelFormat.BGRA8, True, 0.5, 1.0, True),
        (PixelFormat.RGB8, False, 0.8, 0.5, True),
        (PixelFormat.RGBA8, True, 1.0, 0.4, False),
    ],
)
def test_fused_pipeline_matches_torch_pipeline(emulated, photo, fmt, linear, strength, scale, half):
    net = random_generator(6)
    model = HalfNet(net) if half else net
    vs = views(photo, fmt, linear, 45, 67)
    fused = Pipeline(torch.device("cpu"), fused=True).run(model, vs, strength, render_scale=scale)
    plain = Pipeline(torch.device("cpu"), fused=False).run(model, vs, strength, render_scale=scale)
    for a, b in zip(fused, plain):
        diff = np.abs(a.astype(int) - b)
        assert diff.max() <= 1 and (diff > 0).mean() < 2e-3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("antialias", [False, True])
def test_fused_generator_kernels_match_its_torch_twin(emulated, photo, dtype, antialias):
    net = random_generator(7, GeneratorConfig(width=8, res_blocks=2))
    if antialias:  # the kernels with pad 0 and no upsampling, torch's blur and bilinear between
        aa = Generator(GeneratorConfig(width=8, res_blocks=2, antialias=True))
        aa.load_state_dict(net.state_dict())
        net = aa.eval()
    net = net.to(dtype).to(memory_format=torch.channels_last)
    x = torch.from_numpy(photo[:48, :64].copy()).permute(2, 0, 1)[None].float().to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ours = FusedGenerator(net, use_kernels=True)(x).float()
        ref = FusedGenerator(net, use_kernels=False)(x).float()
    tol = {torch.float32: 1e-3, torch.float16: 0.5, torch.bfloat16: 4.0}[dtype]  # on 0..255 outputs
    assert (ours - ref).abs().max() <= tol


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("alpha,preserve_color", [(1.0, False), (0.6, True)])
def test_fused_adain_kernels_match_its_torch_twin(
    emulated, photo, builtin_adain, dtype, alpha, preserve_color
):
    """The built-in adain model through adain.cu's launchers (every epilogue kind, the AdaIN
    statistics swap) against the same steps in torch ops."""
    stylizer = builtin_adain(alpha, preserve_color, dtype)
    x = torch.from_numpy(photo[100:148, 200:280].copy()).permute(2, 0, 1)[None].float().to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        ours = FusedAdaIN(stylizer, use_kernels=True)(x).float()
        ref = FusedAdaIN(stylizer, use_kernels=False)(x).float()
    assert ref.std() > 5, "the output must not be flat"
    tol = {torch.float32: 0.05, torch.float16: 1.0, torch.bfloat16: 8.0}[dtype]  # on 0..255 outputs
    assert (ours - ref).abs().max() <= tol


def test_launch_validation_still_refuses_bad_arguments(emulated):
    src = torch.zeros((1, 8, 8, 4), dtype=torch.uint8)
    with pytest.raises(ValueError, match="channel indices"):
        convert.pack(src, (0, 1, 5), False, torch.float16, False)
    y = torch.zeros((1, 12, 8, 8)).contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="multiples of 8"):
        instnorm.stats(y)
    with pytest.raises(ValueError, match="channels-last"):
        instnorm.stats(torch.zeros((1, 8, 8, 8)))
    with pytest.raises(ValueError, match="bias: expected a contiguous \\(8,\\) float32"):
        adain.epilogue(
            torch.zeros((1, 8, 8, 8)).contiguous(memory_format=torch.channels_last),
            torch.zeros(16),
            relu=True,
        )
    with pytest.raises(ValueError, match="pad 4: expected a pad smaller than the 4x4 image"):
        adain.epilogue(
            torch.zeros((1, 8, 8, 8)).contiguous(memory_format=torch.channels_last),
            torch.zeros(8),
            relu=True,
            pool=True,
            pad=4,
        )
