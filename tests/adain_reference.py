"""An independent AdaIN for the tests: plain functions of state dicts in pytorch-AdaIN's layout,
written from pytorch-AdaIN's net.py layer table, module by module (not from
artem_server.models.adain), and random weights saved the way the peer's files are."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F

# Encoder file: conv index -> (in, out) channels; 53 modules, 16 convs (index 0 is the 1x1 conv).
ENCODER_CONVS = {
    0: (3, 3),
    2: (3, 64),
    5: (64, 64),
    9: (64, 128),
    12: (128, 128),
    16: (128, 256),
    19: (256, 256),
    22: (256, 256),
    25: (256, 256),
    29: (256, 512),
    32: (512, 512),
    35: (512, 512),
    38: (512, 512),
    42: (512, 512),
    45: (512, 512),
    48: (512, 512),
    51: (512, 512),
}


# Decoder file: conv index -> (in, out) for the published width (w = 64: 256/128/64 channels).
def decoder_convs(w: int = 64) -> dict[int, tuple[int, int]]:
    return {
        1: (512, 4 * w),
        5: (4 * w, 4 * w),
        8: (4 * w, 4 * w),
        11: (4 * w, 4 * w),
        14: (4 * w, 2 * w),
        18: (2 * w, 2 * w),
        21: (2 * w, w),
        25: (w, w),
        28: (w, 3),
    }


def peer_encoder_state_dict(seed: int = 0) -> OrderedDict:
    """Random weights in vgg_normalised.pth's layout; conv 0 holds the published preprocessing
    (RGB 0..1 -> BGR 0..255 minus the Caffe mean)."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for i, (cin, cout) in ENCODER_CONVS.items():
        if i == 0:
            w = torch.zeros(3, 3, 1, 1)
            w[0, 2], w[1, 1], w[2, 0] = 255.0, 255.0, 255.0
            sd["0.weight"], sd["0.bias"] = w, -torch.tensor([103.939, 116.779, 123.68])
            continue
        sd[f"{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        sd[f"{i}.bias"] = torch.randn(cout, generator=g) * 0.1
    return sd


def peer_decoder_state_dict(seed: int = 1, width: int = 64) -> OrderedDict:
    """Random weights in decoder.pth's layout, scaled so outputs spread over about 0..1 for
    features of the random encoder above."""
    g = torch.Generator().manual_seed(seed)
    sd = OrderedDict()
    for i, (cin, cout) in decoder_convs(width).items():
        sd[f"{i}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (9 * cin)) ** 0.5
        sd[f"{i}.bias"] = torch.randn(cout, generator=g) * 0.1
    sd["28.weight"] *= 0.003
    sd["28.bias"].fill_(0.35)
    return sd


def _conv(sd: dict, i: int, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
    y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), sd[f"{i}.weight"], sd[f"{i}.bias"])
    return F.relu(y) if relu else y


def ref_encode(sd: dict, x01: torch.Tensor) -> torch.Tensor:
    """vgg_normalised children[:31]: RGB 0..1 -> relu4_1."""
    pool = lambda y: F.max_pool2d(y, 2, 2, 0, ceil_mode=True)  # noqa: E731
    y = F.conv2d(x01, sd["0.weight"], sd["0.bias"])
    y = pool(_conv(sd, 5, _conv(sd, 2, y)))
    y = pool(_conv(sd, 12, _conv(sd, 9, y)))
    for i in (16, 19, 22, 25):
        y = _conv(sd, i, y)
    return _conv(sd, 29, pool(y))


def ref_decode(sd: dict, t: torch.Tensor) -> torch.Tensor:
    up = lambda y: F.interpolate(y, scale_factor=2, mode="nearest")  # noqa: E731
    y = up(_conv(sd, 1, t))
    for i in (5, 8, 11, 14):
        y = _conv(sd, i, y)
    y = up(_conv(sd, 21, _conv(sd, 18, up(y))))
    return _conv(sd, 28, _conv(sd, 25, y), relu=False)


def calc_mean_std(f: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """function.py: unbiased variance (Tensor.var default) + eps, then sqrt."""
    n, c = f.shape[:2]
    var = f.view(n, c, -1).var(dim=2) + eps
    return f.view(n, c, -1).mean(dim=2).view(n, c, 1, 1), var.sqrt().view(n, c, 1, 1)


def ref_adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    s_mean, s_std = calc_mean_std(style)
    c_mean, c_std = calc_mean_std(content)
    return (content - c_mean.expand_as(content)) / c_std.expand_as(content) * s_std.expand_as(
        content
    ) + s_mean.expand_as(content)


def ref_style_transfer(
    enc: dict,
    dec: dict,
    content01: torch.Tensor,
    styles01: list[torch.Tensor],
    weights: list[float] | None = None,
    alpha: float = 1.0,
) -> torch.Tensor:
    """test.py's style_transfer: one AdaIN per style image (each at its own size), weighted sum
    with weights normalised to 1, then alpha * that + (1 - alpha) * content features; 0..1 out."""
    f_c = ref_encode(enc, content01)
    weights = weights or [1.0] * len(styles01)
    total = sum(weights)
    feat = sum((w / total) * ref_adain(f_c, ref_encode(enc, s)) for w, s in zip(weights, styles01))
    feat = feat * alpha + f_c * (1 - alpha)
    return ref_decode(dec, feat)
