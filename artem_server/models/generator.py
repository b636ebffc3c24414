"""The per-style generator: Johnson et al. (2016) with instance norm, as in pytorch/examples.

Layer for layer and key for key the same as pytorch/examples `fast_neural_style`
`TransformerNet` (see shared/reference/peer-models.md section 1), so its published checkpoints
load unchanged. Tensors in and out: (N, 3, H, W) float RGB in 0..255, sRGB; the output is not
clamped. H and W must be multiples of 4 for the output to have the input's size (the pipeline pads).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
import torch.nn.functional as F


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator's shape; stored in the model card so the registry can rebuild the net."""

    width: int = 32  # channels after conv1; conv2 and conv3 have 2x and 4x this
    res_blocks: int = 5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GeneratorConfig":
        return cls(width=int(d.get("width", 32)), res_blocks=int(d.get("res_blocks", 5)))


class ConvLayer(nn.Module):
    """Reflection padding then a convolution: zero padding left border artifacts (Johnson, PR #60)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(c_in, c_out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.pad(x))


class UpsampleConvLayer(ConvLayer):
    """Nearest x2 upsampling then a convolution, instead of a transposed convolution, which
    draws checkerboard artifacts (https://distill.pub/2016/deconv-checkerboard/)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResidualBlock(nn.Module):
    """conv-IN-ReLU-conv-IN plus the input (He et al. 2016); no ReLU after the sum."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, 1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3, 1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(y)) + x


class Generator(nn.Module):
    """TransformerNet: 3 convs down, residual blocks at H/4, 2 upsampling convs, 1 output conv."""

    size_multiple = 4  # two stride-2 convs then two x2 upsamples

    def __init__(self, config: GeneratorConfig = GeneratorConfig()) -> None:
        super().__init__()
        self.config = config
        c1, c2, c3 = config.width, 2 * config.width, 4 * config.width
        self.conv1 = ConvLayer(3, c1, 9, 1)
        self.in1 = nn.InstanceNorm2d(c1, affine=True)
        self.conv2 = ConvLayer(c1, c2, 3, 2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = ConvLayer(c2, c3, 3, 2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        # Attribute names res1..resN are the checkpoint keys of pytorch/examples.
        for i in range(1, config.res_blocks + 1):
            self.add_module(f"res{i}", ResidualBlock(c3))
        self.deconv1 = UpsampleConvLayer(c3, c2, 3, 1)
        self.in4 = nn.InstanceNorm2d(c2, affine=True)
        self.deconv2 = UpsampleConvLayer(c2, c1, 3, 1)
        self.in5 = nn.InstanceNorm2d(c1, affine=True)
        self.deconv3 = ConvLayer(c1, 3, 9, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, 3, H, W) RGB 0..255 -> (N, 3, 4*ceil(H/4), 4*ceil(W/4)), about 0..255
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        for i in range(1, self.config.res_blocks + 1):
            y = getattr(self, f"res{i}")(y)
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)
