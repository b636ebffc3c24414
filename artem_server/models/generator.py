"""The per-style generator: Johnson et al. (2016) with instance norm, as in pytorch/examples.

Layer for layer and key for key the same as pytorch/examples `fast_neural_style`
`TransformerNet` (transformer_net.py), so its published checkpoints
load unchanged. Tensors in and out: (N, 3, H, W) float RGB in 0..255, sRGB; the output is not
clamped. H and W must be multiples of 4 for the output to have the input's size (the pipeline pads).

`antialias` (an architecture option, off for the peers' checkpoints, on for ArtEm's shipped
styles) low-passes before each stride-2 conv and upsamples bilinearly instead of to the nearest
pixel (Zhang, "Making Convolutional Networks Shift-Invariant Again", ICML 2019). The plain net's
output changes when the picture moves by an amount that is not a multiple of 4, so its texture
swims on surfaces as the head moves and differs between the eyes; anti-aliased, it nearly
follows the picture. It adds no weights: the blur is fixed, so the checkpoint keys stay the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GeneratorConfig:
    """The generator's shape; stored in the model card so the registry can rebuild the net."""

    width: int = 32  # channels after conv1; conv2 and conv3 have 2x and 4x this
    res_blocks: int = 5
    antialias: bool = False  # blur before the stride-2 convs, bilinear upsampling (see above)
    # The decoder's channels, narrower than the encoder's for CPU serving: `up_width` after the
    # first x2 upsampling (None: 2 x width), `edge_width` at full resolution, conv1's output and
    # the second upsampling's (None: width). Those layers see 4x and 16x the pixels of the
    # residual blocks, so they cost time out of proportion to their weights: edge 6 and up 12
    # take about a third off a width-16 net's CPU frame (the shipped painting styles).
    edge_width: int | None = None
    up_width: int | None = None

    @property
    def edge(self) -> int:
        return self.width if self.edge_width is None else self.edge_width

    @property
    def up(self) -> int:
        return 2 * self.width if self.up_width is None else self.up_width

    def to_dict(self) -> dict:
        # cards written before the options read the same: unset ones are left out
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorConfig:
        return cls(
            width=int(d.get("width", 32)),
            res_blocks=int(d.get("res_blocks", 5)),
            antialias=bool(d.get("antialias", False)),
            edge_width=None if d.get("edge_width") is None else int(d["edge_width"]),
            up_width=None if d.get("up_width") is None else int(d["up_width"]),
        )


class ConvLayer(nn.Module):
    """Reflection padding then a convolution: zero padding left border artifacts (PR #60)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(c_in, c_out, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.pad(x))


class BlurConvLayer(ConvLayer):
    """A stride-2 ConvLayer that first low-passes its input with the binomial [1, 2, 1]^2 / 16
    (reflection padded), so what it samples has no detail finer than its stride can carry."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(c_in, c_out, kernel, stride)
        k = torch.tensor([1.0, 2.0, 1.0])
        # not persistent: fixed, so the state dict keeps pytorch/examples' keys
        self.register_buffer(
            "blur", (k[:, None] * k[None, :] / 16).expand(c_in, 1, 3, 3).clone(), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blurred = F.conv2d(
            F.pad(x, [1] * 4, mode="reflect"), self.blur.to(x.dtype), groups=x.shape[1]
        )
        return super().forward(blurred)


class UpsampleConvLayer(ConvLayer):
    """x2 upsampling then a convolution, instead of a transposed convolution, which draws
    checkerboard artifacts (https://distill.pub/2016/deconv-checkerboard/). Nearest (the
    peers' net) or bilinear (anti-aliased)."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, mode: str = "nearest"
    ) -> None:
        super().__init__(c_in, c_out, kernel, stride)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))
        return super().forward(
            F.interpolate(x, scale_factor=2, mode=self.mode, align_corners=False)
        )


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


class GeneratorSkeleton(nn.Module):
    """TransformerNet's layers: 3 convs down, res1..resN at H/4 (`make_block`'s), 2 upsampling
    convs, 1 output conv. The full-precision generator and the xnor nets differ only in their
    blocks, so they share the layer names (checkpoint keys) and the forward pass here."""

    size_multiple = 4  # two stride-2 convs then two x2 upsamples

    def __init__(self, config: Any) -> None:
        """`config`: anything with width, res_blocks and antialias (GeneratorConfig, XnorConfig);
        `edge` and `up` (GeneratorConfig's decoder widths) where it has them."""
        super().__init__()
        self.config = config
        c1, c2, c3 = config.width, 2 * config.width, 4 * config.width
        e1, u2 = getattr(config, "edge", c1), getattr(config, "up", c2)
        self.conv1 = ConvLayer(3, e1, 9, 1)
        self.in1 = nn.InstanceNorm2d(e1, affine=True)
        down = BlurConvLayer if config.antialias else ConvLayer
        up = "bilinear" if config.antialias else "nearest"
        self.conv2 = down(e1, c2, 3, 2)
        self.in2 = nn.InstanceNorm2d(c2, affine=True)
        self.conv3 = down(c2, c3, 3, 2)
        self.in3 = nn.InstanceNorm2d(c3, affine=True)
        # Attribute names res1..resN are the checkpoint keys of pytorch/examples.
        for i in range(1, config.res_blocks + 1):
            self.add_module(f"res{i}", self.make_block(c3))
        self.deconv1 = UpsampleConvLayer(c3, u2, 3, 1, up)
        self.in4 = nn.InstanceNorm2d(u2, affine=True)
        self.deconv2 = UpsampleConvLayer(u2, e1, 3, 1, up)
        self.in5 = nn.InstanceNorm2d(e1, affine=True)
        self.deconv3 = ConvLayer(e1, 3, 9, 1)

    def make_block(self, channels: int) -> nn.Module:
        raise NotImplementedError

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


class Generator(GeneratorSkeleton):
    """TransformerNet, layer for layer: its residual blocks are conv-IN-ReLU-conv-IN."""

    def __init__(self, config: GeneratorConfig = GeneratorConfig()) -> None:
        super().__init__(config)

    def make_block(self, channels: int) -> nn.Module:
        return ResidualBlock(channels)
