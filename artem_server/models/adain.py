"""AdaIN (Huang & Belongie 2017, "Arbitrary Style Transfer in Real-time with Adaptive Instance
Normalization"): a VGG-19 encoder up to relu4_1, a channel-statistics swap, a learned decoder.

Module for module and key for key the layout of naoto0804/pytorch-AdaIN `net.py`
(encoder: VGG-19 normalised up to relu4_1; decoder: its mirror), so its `vgg_normalised.pth` (first
31 of its 53
modules) and `decoder.pth` load unchanged into `encoder.*` and `decoder.*`. Its conventions are
kept inside this module: the encoder takes RGB in 0..1 (its 1x1 conv 0 does the Caffe BGR/mean
preprocessing), the decoder returns about 0..1, statistics use the unbiased variance + 1e-5.

`antialias` (an architecture option, off for the peer's files) replaces the encoder's max pools
by max-blur pools (a 2x2 max at stride 1, then a binomial blur sampled at stride 2: Zhang,
ICML 2019) and the decoder's nearest upsampling by bilinear. The plain net's stride of 8 makes
its output jump when the picture moves by other amounts, so its texture swims as the head
moves and differs between the eyes. Neither change adds weights: keys and indices stay the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5  # pytorch-AdaIN function.py calc_mean_std (PR #4: always added to the variance)
ENCODER_MODULES = 31  # vgg_normalised has 53; test.py/train.py keep children[:31] (to relu4_1)
FEATURE_CHANNELS = 512  # relu4_1
# Tap name -> index of its ReLU in the encoder Sequential (pytorch-AdaIN's enc_1..enc_4 slices end
# here).
TAPS = {"relu1_1": 3, "relu2_1": 10, "relu3_1": 17, "relu4_1": 30}
# VGG-19 convs up to relu4_1 (output channels; "M" = 2x2 max pool, ceil mode).
_ENCODER_LAYERS: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512]

# The published 1x1 preprocessing conv (AdaIN-style lib/utils.lua getPreprocessConv): RGB 0..1
# -> Caffe BGR 0..255 minus the ImageNet mean. Used to build encoders that have no file of their
# own.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)


def run_to_taps(
    layers: nn.Sequential, x: torch.Tensor, wanted: dict[int, str]
) -> dict[str, torch.Tensor]:
    """Run `layers` in order and keep the outputs of the indices in `wanted` ({index: tap
    name}), stopping after the deepest one: the VGG loss networks need no layer past it."""
    out: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(layers):
        x = layer(x)
        if i in wanted:
            out[wanted[i]] = x
            if len(out) == len(wanted):
                break
    return out


@dataclass(frozen=True)
class AdaINConfig:
    """The decoder's shape; stored in the model card so the registry can rebuild the net.
    The encoder is always VGG-19 to relu4_1. `decoder_width` 64 is pytorch-AdaIN's decoder
    (256/128/64 channels at H/4, H/2, H); smaller widths give a narrower, cheaper decoder."""

    decoder_width: int = 64
    antialias: bool = False  # max-blur pools in the encoder, bilinear upsampling in the decoder

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AdaINConfig:
        return cls(
            decoder_width=int(d.get("decoder_width", 64)), antialias=bool(d.get("antialias", False))
        )


class MaxBlurPool(nn.Module):
    """MaxPool2d(2, 2, ceil_mode=True)'s output size, anti-aliased: the max over each 2x2
    window at every pixel, then the binomial [1, 2, 1]^2 / 16 blur sampled at stride 2."""

    def __init__(self) -> None:
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("blur", (k[:, None] * k[None, :] / 16)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        m = F.max_pool2d(F.pad(x, [0, 1, 0, 1], mode="replicate"), 2, 1)
        y = F.conv2d(
            F.pad(m, [1] * 4, mode="reflect").reshape(n * c, 1, h + 2, w + 2),
            self.blur.to(x.dtype),
            stride=2,
        )
        return y.reshape(n, c, y.shape[-2], y.shape[-1])


def _conv(c_in: int, c_out: int) -> list[nn.Module]:
    # Reflection padding then an unpadded conv: the Torch original replaced VGG's zero padding.
    return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]


def build_encoder(antialias: bool = False) -> nn.Sequential:
    """The 31 modules of vgg_normalised up to relu4_1, indices as in the peer's file."""
    layers: list[nn.Module] = [nn.Conv2d(3, 3, 1)]  # 0: preprocessing (see CAFFE_BGR_MEAN)
    c = 3
    for v in _ENCODER_LAYERS:
        if v == "M":
            layers.append(MaxBlurPool() if antialias else nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        else:
            layers += [*_conv(c, int(v)), nn.ReLU()]
            c = int(v)
    assert len(layers) == ENCODER_MODULES
    return nn.Sequential(*layers)


def build_decoder(width: int = 64, antialias: bool = False) -> nn.Sequential:
    """The 29-module mirror of the encoder (keys 1, 5, 8, 11, 14, 18, 21, 25, 28); no final
    activation. Channels 4w at H/4, 2w at H/2, w at H."""
    c4, c2, c1 = 4 * width, 2 * width, width
    mode = "bilinear" if antialias else "nearest"
    up = lambda: nn.Upsample(scale_factor=2, mode=mode)  # noqa: E731
    layers: list[nn.Module] = [*_conv(FEATURE_CHANNELS, c4), nn.ReLU(), up()]
    for _ in range(3):
        layers += [*_conv(c4, c4), nn.ReLU()]
    layers += [*_conv(c4, c2), nn.ReLU(), up()]
    layers += [*_conv(c2, c2), nn.ReLU(), *_conv(c2, c1), nn.ReLU(), up()]
    layers += [*_conv(c1, c1), nn.ReLU(), *_conv(c1, 3)]
    return nn.Sequential(*layers)


def preprocessing_conv() -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [3,3,1,1], bias [3]) of the published preprocessing conv."""
    w = torch.zeros(3, 3, 1, 1)
    for out_c, in_c in ((0, 2), (1, 1), (2, 0)):  # BGR <- RGB
        w[out_c, in_c] = 255.0
    return w, -torch.tensor(CAFFE_BGR_MEAN)


def mean_std(f: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (sample, channel) mean and sqrt(unbiased variance + eps) over H*W, each (N, C, 1, 1)
    in f's dtype. Computed in fp32: relu4_1 variances can pass fp16's largest value (65504)."""
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1).float()
    mean, std = flat.mean(-1), (flat.var(-1, unbiased=True) + eps).sqrt()
    return mean.view(n, c, 1, 1).to(f.dtype), std.view(n, c, 1, 1).to(f.dtype)


def adain(content: torch.Tensor, style_mean: torch.Tensor, style_std: torch.Tensor) -> torch.Tensor:
    """Content features (N, C, H, W) with each channel's mean/std replaced by the style's
    (broadcastable to (N, C, 1, 1))."""
    mean, std = mean_std(content)
    return (content - mean) / std * style_std + style_mean


class AdaINNet(nn.Module):
    """Encoder + decoder. Tensors in and out of `encode`/`decode`: (N, 3, H, W) float RGB
    0..1 sRGB; decoded size is 8*ceil(H/8) x 8*ceil(W/8) (three ceil-mode pools, three x2
    upsamples), values about 0..1, unclamped."""

    def __init__(self, config: AdaINConfig = AdaINConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config.antialias)
        self.decoder = build_decoder(config.decoder_width, config.antialias)

    def encode(self, x01: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0..1 -> relu4_1 (N, 512, ceil(H/8), ceil(W/8))."""
        return self.encoder(x01)

    def features(
        self, x01: torch.Tensor, taps: Sequence[str] = tuple(TAPS)
    ) -> dict[str, torch.Tensor]:
        """{tap: activations} for the named taps (training's losses), stopping at the deepest."""
        return run_to_taps(self.encoder, x01, {TAPS[t]: t for t in taps})

    def decode(self, t: torch.Tensor) -> torch.Tensor:
        """relu4_1-shaped features -> (N, 3, 8h, 8w) RGB about 0..1."""
        return self.decoder(t)
