"""The fused adain path on the CPU: its torch twin against the eager stylizer (the function the
fused kernels must compute), the optimized backend's fused mode for adain styles, and a CUDA
server's default mode, which must not tune per frame size at start."""

from __future__ import annotations

import pytest
import torch

from artem_server.backends import create_runner, torch_optimized
from artem_server.backends.fused_adain import FusedAdaIN
from artem_server.models.adain_cin import CINStylizer
from artem_server.registry import Registry


def image(photo, h: int = 64, w: int = 96) -> torch.Tensor:
    return (
        torch.from_numpy(photo[120 : 120 + h, 180 : 180 + w].copy()).permute(2, 0, 1)[None].float()
    )


@pytest.mark.parametrize("alpha,preserve_color", [(1.0, False), (0.4, False), (0.7, True)])
def test_fused_twin_equals_the_eager_stylizer(photo, builtin_adain, alpha, preserve_color):
    """Same weights: the folded first and last convs, fused epilogues and the AdaIN swap give
    the eager stylizer's pixels (0..255) to far below one 8-bit level."""
    stylizer = builtin_adain(alpha, preserve_color)
    x = torch.cat([image(photo), image(photo[::-1])])  # two views: statistics per view
    with torch.inference_mode():
        ref = stylizer(x)
        ours = FusedAdaIN(stylizer, use_kernels=False)(
            x.contiguous(memory_format=torch.channels_last)
        )
    assert ref.std() > 5, "the stylized frame must not be flat"
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() < 0.05


def test_fused_mode_runs_adain_styles(photo, builtin_adain):
    stylizer = builtin_adain()
    runner = create_runner("torch-optimized", stylizer, torch.device("cpu"), "fp32", mode="fused")
    assert runner.describe() == "torch-optimized fp32 fused"
    x = image(photo).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        torch.testing.assert_close(runner(x), stylizer(x), rtol=0, atol=0.05)


def test_fused_mode_refuses_other_layouts(builtin_adain):
    stylizer = builtin_adain()
    stylizer.net.encoder[2] = torch.nn.Conv2d(3, 64, 3, padding=1)  # zero padding: not VGG's layout
    with pytest.raises(Exception, match="adain layer Conv2d.*not one it fuses"):
        create_runner("torch-optimized", stylizer, torch.device("cpu"), "fp32", mode="fused")


@pytest.mark.parametrize("kernels", [True, False])
def test_cuda_default_never_compiles_builtin_styles(monkeypatch, kernels):
    """`artem serve --device cuda --warm-size ...` prepares every style's default runner before
    it says SERVING: with torch.compile's max-autotune that took minutes per warm size for the
    adain styles. Every built-in adain style of the VGG net now defaults to fused (no
    compilation), those of the fast net (no fused form) to CUDA graphs, and with the kernels
    every built-in generator style to fused."""
    monkeypatch.setattr(torch_optimized, "_fused_kernels_available", lambda: kernels)
    registry = Registry(None)
    modes = {
        s.id: (s.card.kind, torch_optimized.default_mode(s.model, cuda=True))
        for s in registry.styles()
        if s.card.kind != "identity"
    }
    fast = {s.id for s in registry.styles() if isinstance(s.model, CINStylizer)}
    assert any(kind == "adain" for kind, _ in modes.values()) and fast
    for sid, (kind, mode) in modes.items():
        if sid in fast:
            assert mode == "graph", (sid, kind, mode)
        elif kernels or kind == "adain":
            assert mode == "fused", (sid, kind, mode)
