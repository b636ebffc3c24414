"""The xnor generator: training form, packed form, storage, and its CUDA path's code on the CPU.

The packed net (binary convs by the reference integer arithmetic) computes what the trainable
net (straight-through estimators, float convs of signs) computes; the weights round-trip
through an entry as packed int32 bits; and FusedXnor, with xnor.cu's and instnorm.cu's kernel
bodies host-compiled in place of the launches, follows the packed net in fp16.
"""

from __future__ import annotations

import pytest
import torch
from artem_kernels import convert, instnorm, xnor
from artem_kernels import xnor_reference as ref
from conftest import random_generator
from host_build import build_host_library, needs_nvcc
from test_kernels_emulated import HostModule

from artem_server.backends.fused_xnor import FusedXnor
from artem_server.models.card import ModelCard
from artem_server.models.generator import GeneratorConfig
from artem_server.models.store import write_entry
from artem_server.models.xnor import (
    ApproxSign,
    XnorConfig,
    XnorGenerator,
    packed_from_state_dict,
)

SMALL = GeneratorConfig(width=8, res_blocks=2)


def student(config: GeneratorConfig = SMALL, seed: int = 0) -> XnorGenerator:
    teacher = random_generator(seed, config)
    net = XnorGenerator.from_generator(teacher, gain=1.0)
    with torch.no_grad():  # norms that are not the identity, so the sign sees something
        for i in range(1, config.res_blocks + 1):
            block = getattr(net, f"res{i}")
            for norm in (block.norm1, block.norm2):
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.uniform_(-0.3, 0.3)
    return net.eval()


def test_student_starts_from_the_teacher():
    teacher = random_generator(3, SMALL)
    net = XnorGenerator.from_generator(teacher)
    assert torch.equal(net.conv1.conv2d.weight, teacher.conv1.conv2d.weight)
    assert torch.equal(net.in4.bias, teacher.in4.bias)
    assert torch.equal(net.res2.conv1.weight, teacher.res2.conv1.conv2d.weight)
    assert torch.equal(net.res1.conv2.weight, teacher.res1.conv2.conv2d.weight)


@pytest.mark.parametrize("antialias", [False, True])
def test_packed_net_computes_the_trainable_nets_function(antialias):
    config = GeneratorConfig(width=8, res_blocks=2, antialias=antialias)
    net = student(config)
    x = torch.rand((2, 3, 36, 28)) * 255
    with torch.no_grad():
        expected, ours = net(x), net.packed().eval()(x)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-3)


def test_straight_through_gradients_reach_latent_weights_and_gains():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.5], requires_grad=True)
    ApproxSign.apply(x).sum().backward()
    assert torch.equal(ApproxSign.apply(x.detach()), torch.tensor([-1.0, -1, 1, 1, 1]))
    assert torch.allclose(x.grad, torch.tensor([0.0, 1.0, 2.0, 1.5, 0.0]))
    net = student().train()
    net(torch.rand((1, 3, 16, 16)) * 255).mean().backward()
    conv = net.res1.conv1
    assert conv.weight.grad.abs().sum() > 0 and conv.gain.grad.abs().sum() > 0


def test_entry_keeps_packed_bits_and_is_smaller_than_the_generator(tmp_path):
    net = student(GeneratorConfig(width=16, res_blocks=3))
    packed = net.packed()
    card = ModelCard(name="tiny-xnor", kind="xnor", architecture=net.config.to_dict())
    entry = write_entry(tmp_path, card, packed.state_dict(), half=True)
    state = entry.load_weights()
    assert state["res1.conv1.bits"].dtype == torch.int32
    assert torch.equal(state["res3.conv2.bits"], packed.res3.conv2.bits)
    loaded = packed_from_state_dict(state, XnorConfig.from_dict(card.architecture))
    with torch.no_grad():  # what the entry holds: the real-valued tensors rounded to fp16
        for t in packed.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    x = torch.rand((1, 3, 32, 32)) * 255
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), packed.eval()(x), rtol=0, atol=0)
    teacher = random_generator(0, GeneratorConfig(width=16, res_blocks=3))
    generator = write_entry(
        tmp_path, ModelCard(name="tiny", kind="generator"), teacher.state_dict()
    )
    ours = (entry.path / "weights.safetensors").stat().st_size
    theirs = (generator.path / "weights.safetensors").stat().st_size
    assert ours < theirs / 2.5, (ours, theirs)


def test_entry_weights_that_do_not_fit_are_refused():
    state = student().packed().state_dict()
    with pytest.raises(ValueError, match="missing"):
        packed_from_state_dict(state, XnorConfig(width=8, res_blocks=3))
    state["res1.conv1.bits"] = state["res1.conv1.bits"].float()
    with pytest.raises(ValueError, match="res1.conv1.bits"):
        packed_from_state_dict(state, XnorConfig(width=8, res_blocks=2))


@pytest.fixture()
def emulated(monkeypatch, tmp_path_factory) -> None:
    lib = build_host_library(
        tmp_path_factory.mktemp("host"), "convert_host.cu", "instnorm_host.cu", "xnor_host.cu"
    )
    module = HostModule(lib)
    monkeypatch.setattr(convert, "REQUIRE_CUDA", False)
    for loader in (convert, instnorm, xnor):
        monkeypatch.setattr(loader, "_module", lambda device_index: module)
    monkeypatch.setattr(convert, "_launch", lambda kernel, total, args: kernel(args))


@needs_nvcc
@pytest.mark.parametrize("antialias", [False, True])
def test_fused_xnor_follows_the_packed_net(emulated, antialias):
    config = GeneratorConfig(width=8, res_blocks=2, antialias=antialias)
    packed = student(config, seed=5).packed().eval()
    x = torch.rand((2, 3, 40, 24)) * 255
    with torch.no_grad():
        expected = packed(x)
        half = packed.half().to(memory_format=torch.channels_last)
        ours = FusedXnor(half)(x.half().contiguous(memory_format=torch.channels_last))
    assert ours.dtype == torch.float16 and ours.shape == expected.shape
    # fp16 layers move values near zero across the sign here and there, and a flipped sign
    # moves its neighbourhood: the packed net itself in fp16 is 1.9 grey levels off on average
    diff = (ours.float() - expected).abs()
    assert diff.mean() < 3.5, (diff.mean(), diff.max())
    # one binary unit on the same input is the reference's arithmetic exactly
    r = torch.randn((2, 32, 10, 6)).half().contiguous(memory_format=torch.channels_last)
    fused = FusedXnor(half)
    conv = fused._binary[0][0]
    coef = instnorm.coefficients(r, instnorm.stats(r), *fused._affine["res1.norm1"])
    expected_unit = ref.conv3x3(ref.pack(r, coef), conv, residual=r)
    assert torch.equal(fused.unit(r, "res1.norm1", conv), expected_unit)
