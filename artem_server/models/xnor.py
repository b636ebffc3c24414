"""The xnor generator: the per-style generator with binary (XNOR-Net) residual blocks.

Layers outside the residual blocks are the generator's, full precision, with its names (conv1,
in1 ... deconv3), so a trained generator of the same shape initialises them key for key: the
first and last convs and the down/up-sampling convs stay real-valued, as in every binary net
that keeps its quality (XNOR-Net, Bi-Real, E2FIF). Each residual block has two binary 3x3
convs, each in the order norm -> sign -> binary conv, with a real-valued shortcut around it
(Bi-Real Net, Liu et al. 2018):

    y = x + bconv1(sign(norm1(x)));  out = y + bconv2(sign(norm2(y)))

bconv(s) = alpha * (sign(W) (*) s) + bias, alpha = gain * mean |W| per output channel (XNOR-Net's
scale, with a learned gain), reflection padding (exact on signs: padding commutes with sign).
sign(0) = +1. The norm comes first because the generator's activations there are ReLU outputs,
whose sign would be constant.

Two forms:
- `XnorGenerator`: latent real weights, the straight-through estimator (ApproxSign for
  activations, identity for weights): what training optimizes.
- `PackedXnorGenerator`: the binary convs as packed sign bits (artem_kernels.xnor_reference's
  layout), what is stored (safetensors) and served. Its forward is the CPU reference arithmetic;
  on CUDA, backends.fused_xnor runs the same net on the kernels.
Tensors in and out: (N, 3, H, W) RGB 0..255, sRGB, like the generator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from artem_kernels import xnor_reference as ref
from torch import nn

from .generator import Generator, GeneratorConfig, GeneratorSkeleton


@dataclass(frozen=True)
class XnorConfig:
    """The xnor generator's shape (a generator's); stored in the model card."""

    width: int = 32
    res_blocks: int = 5
    antialias: bool = False
    edge_width: int | None = None  # a slim decoder's widths (GeneratorConfig's), full precision
    up_width: int | None = None

    @property
    def edge(self) -> int:
        return self.generator().edge

    @property
    def up(self) -> int:
        return self.generator().up

    def to_dict(self) -> dict:
        return self.generator().to_dict()

    @classmethod
    def from_dict(cls, d: dict) -> XnorConfig:
        g = GeneratorConfig.from_dict(d)
        return cls(g.width, g.res_blocks, g.antialias, g.edge_width, g.up_width)

    def generator(self) -> GeneratorConfig:
        return GeneratorConfig(
            self.width, self.res_blocks, self.antialias, self.edge_width, self.up_width
        )


class ApproxSign(torch.autograd.Function):
    """sign(x) (0 -> +1) forward; Bi-Real's piecewise-quadratic gradient 2 - 2|x| on |x| < 1."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (2.0 - 2.0 * x.abs()).clamp(min=0.0)


def sign_ste(w: torch.Tensor) -> torch.Tensor:
    """sign(w) (0 -> +1) forward, identity gradient (the weights' straight-through estimator)."""
    return w + (torch.where(w >= 0, 1.0, -1.0).to(w.dtype) - w).detach()


class BinaryConv(nn.Module):
    """A binary 3x3 conv for training: latent real weights, binarized in the forward pass."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, channels, 3, 3))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def alpha(self) -> torch.Tensor:
        """(C_out,): gain * mean |W|, the scale of each output channel."""
        return self.gain * self.weight.abs().mean(dim=(1, 2, 3))

    def forward(self, signs: torch.Tensor) -> torch.Tensor:
        # signs: +-1 activations (N, C, H, W)
        w = sign_ste(self.weight) * self.alpha()[:, None, None, None]
        return F.conv2d(F.pad(signs, [1] * 4, mode="reflect"), w, self.bias)

    def packed(self) -> ref.BinaryConv3x3:
        """The inference form: sign bits, popcounts, alpha and bias as the kernels take them."""
        conv = ref.pack_weights(self.weight, self.bias)
        conv.alpha = self.alpha().detach().float().cpu().contiguous()
        return conv


class XnorBlock(nn.Module):
    """Two Bi-Real units: norm -> sign -> binary conv, plus the real-valued input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv1 = BinaryConv(channels)
        self.norm2 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = BinaryConv(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.conv1(ApproxSign.apply(self.norm1(x)))
        return y + self.conv2(ApproxSign.apply(self.norm2(y)))


class XnorGenerator(GeneratorSkeleton):
    """The trainable form (straight-through estimators)."""

    def make_block(self, channels: int) -> nn.Module:
        return XnorBlock(channels)

    @classmethod
    def from_generator(cls, teacher: Generator, gain: float = 0.1) -> XnorGenerator:
        """A student initialised from a trained generator of the same shape: its real-valued
        layers copied, each binary conv's latent weights from the teacher's conv at the same
        place, and a small gain so that the binary blocks start as a small change to the
        residual stream (the teacher's blocks are conv-norm-ReLU-conv-norm, not this)."""
        net = cls(XnorConfig.from_dict(teacher.config.to_dict()))
        state = teacher.state_dict()
        own = {k: v for k, v in state.items() if not k.startswith("res")}
        net.load_state_dict(own, strict=False)
        with torch.no_grad():
            for i in range(1, net.config.res_blocks + 1):
                block = getattr(net, f"res{i}")
                for j in (1, 2):
                    conv = getattr(block, f"conv{j}")
                    conv.weight.copy_(state[f"res{i}.conv{j}.conv2d.weight"])
                    conv.gain.fill_(gain)
        return net

    def packed(self) -> PackedXnorGenerator:
        """The stored and served form of this net (on the CPU, float32)."""
        out = PackedXnorGenerator(self.config)
        binary = re.compile(r"res\d+\.conv\d\.")  # latent weights, gains, biases: packed below
        real = {k: v for k, v in self.state_dict().items() if not binary.match(k)}
        out.load_state_dict(real, strict=False)
        for i in range(1, self.config.res_blocks + 1):
            for j in (1, 2):
                conv = getattr(getattr(self, f"res{i}"), f"conv{j}").packed()
                getattr(getattr(out, f"res{i}"), f"conv{j}").set(conv)
        return out


class PackedBinaryConv(nn.Module):
    """A binary 3x3 conv as stored: int32 sign-bit words, popcounts, float32 alpha and bias
    (buffers, so they are in the state dict and move with the module; .half() leaves the
    integer ones alone, and `conv()` hands the kernels float32 scale and bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        empty = ref.pack_weights(torch.zeros(channels, channels, 3, 3))
        self.c_in = channels
        self.register_buffer("bits", empty.bits)
        self.register_buffer("popw", empty.popw)
        self.register_buffer("alpha", empty.alpha)
        self.register_buffer("bias", empty.bias)

    def _apply(self, fn, recurse=True):
        """Moves keep alpha and bias in float32: a .half() would round the scale the kernels
        and the reference both multiply by."""
        scale = {name: self._buffers[name] for name in ("alpha", "bias")}
        super()._apply(fn, recurse)
        for name, old in scale.items():
            self._buffers[name] = old.to(self._buffers[name].device)
        return self

    def set(self, conv: ref.BinaryConv3x3) -> None:
        for name in ("bits", "popw", "alpha", "bias"):
            getattr(self, name).copy_(getattr(conv, name))

    def conv(self) -> ref.BinaryConv3x3:
        return ref.BinaryConv3x3(
            self.bits, self.popw, self.alpha.float(), self.bias.float(), self.c_in
        )


def norm_coefficients(x: torch.Tensor, norm: nn.InstanceNorm2d) -> torch.Tensor:
    """(N, C, 2) float32 (scale, shift) with x * scale + shift = norm(x) (biased variance, in
    float64 as artem_kernels.instnorm computes them)."""
    xd = x.detach().double()
    mean = xd.mean(dim=(2, 3))
    var = xd.var(dim=(2, 3), unbiased=False)
    gamma = norm.weight.detach().to(xd.device, torch.float64)
    beta = norm.bias.detach().to(xd.device, torch.float64)
    scale = gamma / torch.sqrt(var + norm.eps)
    shift = beta - mean * scale
    return torch.stack([scale, shift], dim=-1).float().contiguous()


class PackedXnorBlock(nn.Module):
    """XnorBlock with packed binary convs; forward by the CPU reference arithmetic."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv1 = PackedBinaryConv(channels)
        self.norm2 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = PackedBinaryConv(channels)

    @staticmethod
    def unit(x: torch.Tensor, norm: nn.InstanceNorm2d, conv: PackedBinaryConv) -> torch.Tensor:
        """x + bconv(sign(norm(x))): packed and convolved on the CPU in float32."""
        xf = x.detach().to("cpu", torch.float32)
        packed = ref.pack(xf, norm_coefficients(xf, norm))
        out = ref.conv3x3(packed, conv.conv().to("cpu"), residual=xf, dtype=torch.float32)
        return out.to(x.device, x.dtype).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.unit(x, self.norm1, self.conv1)
        return self.unit(y, self.norm2, self.conv2)


class PackedXnorGenerator(GeneratorSkeleton):
    """The stored and served form; forward runs the binary convs by the reference arithmetic."""

    def make_block(self, channels: int) -> nn.Module:
        return PackedXnorBlock(channels)

    def blocks(self) -> list[PackedXnorBlock]:
        return [getattr(self, f"res{i}") for i in range(1, self.config.res_blocks + 1)]


def packed_from_state_dict(
    state: dict[str, torch.Tensor], config: XnorConfig
) -> PackedXnorGenerator:
    """A PackedXnorGenerator of `config` holding `state` (an entry's weights: float32 layers,
    int32 sign bits), eval mode; a key or shape that does not fit is a ValueError naming it."""
    net = PackedXnorGenerator(config)
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"xnor weights do not fit {config}: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    for key, value in state.items():
        want = expected[key]
        if value.shape != want.shape or value.is_floating_point() != want.is_floating_point():
            raise ValueError(
                f"xnor weight {key}: expected {tuple(want.shape)} {want.dtype}, "
                f"got {tuple(value.shape)} {value.dtype}"
            )
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)
