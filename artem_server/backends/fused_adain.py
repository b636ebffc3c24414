"""An adain style's forward pass with everything between its convs fused (torch-optimized's
`fused` mode for adain styles).

Every 3x3 conv of the VGG encoder and the decoder runs unpadded and without its bias (cuDNN,
channels-last); what follows it up to the next conv (bias, ReLU, max pool or nearest
upsampling, the next conv's reflection padding) is one `epilogue` pass that writes the next
conv's padded input. AdaIN at relu4_1 (the content's channel statistics swapped for the
style's, alpha folded in) is one statistics pass, one small kernel and one apply pass that also
pads for the decoder. On CUDA with CuPy these are artem_kernels.adain; elsewhere the same
functions in torch ops (`reference_epilogue`, `reference_adain`), which is also what the kernels
are tested against. No per-shape compilation: a new frame size costs cuDNN's algorithm search
and a CUDA graph capture, where torch.compile's max-autotune tuned the VGG convs for minutes per
size.

The encoder's 1x1 preprocessing conv (RGB 0..1 -> Caffe BGR minus the mean) and the stylizer's
/255 are folded into the first 3x3 conv, and the *255 into the last: reflection padding copies
pixels, so a per-pixel affine map commutes with it.

Layer for layer the same function as models.adain_style.AdaINStylizer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models.adain import EPS, MaxBlurPool
from ..models.adain_style import AdaINStylizer, luma
from .base import BackendUnavailable


def reference_epilogue(
    y: torch.Tensor,
    bias: torch.Tensor,
    *,
    relu: bool,
    pool: bool = False,
    upsample: int = 1,
    pad: int = 0,
) -> torch.Tensor:
    """relu?(y + bias), 2x2 ceil-mode max pool or nearest upsample, reflection pad; in float32,
    the result in y's dtype, channels-last (artem_kernels.adain.epilogue's twin)."""
    v = y.float() + bias.float().view(1, -1, 1, 1)
    if relu:
        v = F.relu(v)
    if pool:
        v = F.max_pool2d(v, 2, 2, ceil_mode=True)
    elif upsample > 1:
        v = F.interpolate(v, scale_factor=upsample, mode="nearest")
    if pad:
        v = F.pad(v, [pad] * 4, mode="reflect")
    return v.to(y.dtype).contiguous(memory_format=torch.channels_last)


def reference_adain(
    f: torch.Tensor,
    style_mean: torch.Tensor,
    style_std: torch.Tensor,
    alpha: float = 1.0,
    *,
    pad: int = 0,
) -> torch.Tensor:
    """lerp(f, AdaIN(f), alpha) with statistics in float64, reflection-padded; y's dtype,
    channels-last (artem_kernels.adain.adain's twin)."""
    fd = f.double()
    mean = fd.mean(dim=(2, 3), keepdim=True)
    count = f.shape[2] * f.shape[3]
    var = fd.var(dim=(2, 3), unbiased=count > 1, keepdim=True)
    r = style_std.double().view(1, -1, 1, 1) / torch.sqrt(var + EPS)
    scale = (1 - alpha) + alpha * r
    shift = alpha * (style_mean.double().view(1, -1, 1, 1) - mean * r)
    v = f.float() * scale.float() + shift.float()
    if pad:
        v = F.pad(v, [pad] * 4, mode="reflect")
    return v.to(f.dtype).contiguous(memory_format=torch.channels_last)


@dataclass
class _Conv:
    """One 3x3 conv and what follows it before the next conv."""

    weight: torch.Tensor  # channels-last, in the net's dtype
    bias: torch.Tensor  # float32
    pad: int  # its own input's reflection padding
    relu: bool = False
    pool: bool = False
    upsample: int = 1
    antialias: nn.Module | None = None  # an anti-aliased net's pool or upsample, run in torch


def _plan(layers: nn.Sequential) -> list[_Conv]:
    """The convs of an encoder or decoder Sequential (models.adain's layouts); BackendUnavailable
    for a layer this path does not know."""
    convs: list[_Conv] = []
    pad = 0
    for m in layers:
        if isinstance(m, nn.ReflectionPad2d) and len(set(m.padding)) == 1:
            pad = m.padding[0]
        elif (
            isinstance(m, nn.Conv2d)
            and m.stride == (1, 1)
            and m.padding == (0, 0)
            and m.groups == 1
        ):
            bias = (
                m.bias.detach().float()
                if m.bias is not None
                else m.weight.new_zeros(m.out_channels).float()
            )
            convs.append(_Conv(m.weight.detach(), bias.contiguous(), pad))
            pad = 0
        elif convs and isinstance(m, nn.ReLU):
            convs[-1].relu = True
        elif (
            convs
            and isinstance(m, nn.MaxPool2d)
            and m.kernel_size in (2, (2, 2))
            and m.stride in (2, (2, 2))
            and m.padding in (0, (0, 0))
            and m.ceil_mode
        ):
            convs[-1].pool = True
        elif (
            convs
            and isinstance(m, nn.Upsample)
            and m.mode == "nearest"
            and m.scale_factor in (2, 2.0)
        ):
            convs[-1].upsample = 2
        elif convs and (
            isinstance(m, MaxBlurPool)
            or (isinstance(m, nn.Upsample) and m.mode == "bilinear" and m.scale_factor in (2, 2.0))
        ):
            convs[-1].antialias = m
        else:
            raise BackendUnavailable(f"mode fused: adain layer {m} is not one it fuses")
    return convs


class FusedAdaIN(nn.Module):
    """Runs `stylizer` (an AdaINStylizer whose net is already in its dtype, device and
    channels-last) with fused steps. In: (N, 3, H, W) RGB 0..255 with H, W multiples of 8;
    out: the same shape, about 0..255, like AdaINStylizer."""

    size_multiple = AdaINStylizer.size_multiple

    def __init__(self, stylizer: AdaINStylizer, use_kernels: bool) -> None:
        super().__init__()
        self.use_kernels = use_kernels
        self.alpha = stylizer.alpha
        self.preserve_color = stylizer.preserve_color
        net = stylizer.net
        dtype, device = net.decoder[1].weight.dtype, net.decoder[1].weight.device
        stats = stylizer.stats
        mean, std = (
            (stats.gray_mean, stats.gray_std) if self.preserve_color else (stats.mean, stats.std)
        )
        self.style_mean = mean.float().to(device).contiguous()
        self.style_std = std.float().to(device).contiguous()
        pre, encoder = net.encoder[0], _plan(net.encoder[1:])
        self.decoder = _plan(net.decoder)
        if (
            not (isinstance(pre, nn.Conv2d) and pre.kernel_size == (1, 1))
            or not encoder
            or not self.decoder
        ):
            raise BackendUnavailable(
                "mode fused: expected a 1x1 preprocessing conv, then VGG's 3x3 convs"
            )
        # conv1_1(pad(pre(x / 255))) = conv1_1'(pad(x)): fold /255 and the 1x1 conv in, in float32.
        first, w0 = encoder[0], pre.weight.detach().float()[:, :, 0, 0] / 255
        w1 = first.weight.float()
        first.bias = first.bias + torch.einsum(
            "ojkl,j->o",
            w1,
            pre.bias.detach().float() if pre.bias is not None else w1.new_zeros(w1.shape[1]),
        )
        first.weight = torch.einsum("ojkl,ji->oikl", w1, w0)
        last = self.decoder[-1]  # the output conv keeps its bias (3 channels) and returns 0..255
        last.weight, last.bias = last.weight.float() * 255, last.bias * 255
        for conv in (*encoder, *self.decoder):
            conv.weight = conv.weight.to(device, dtype).contiguous(
                memory_format=torch.channels_last
            )
        last.bias = last.bias.to(device, dtype)
        self.encoder = encoder

    def _epilogue(self, y: torch.Tensor, conv: _Conv, pad: int) -> torch.Tensor:
        if conv.antialias is not None:  # bias and ReLU fused, then the blur pool or bilinear x2
            v = conv.antialias(
                self._epilogue(y, _Conv(conv.weight, conv.bias, conv.pad, conv.relu), 0)
            )
            return F.pad(v, [pad] * 4, mode="reflect").contiguous(memory_format=torch.channels_last)
        kwargs = dict(relu=conv.relu, pool=conv.pool, upsample=conv.upsample, pad=pad)
        if self.use_kernels and y.shape[1] % 8 == 0:  # the kernels move 8 channels at a time
            from artem_kernels import adain

            return adain.epilogue(
                y.contiguous(memory_format=torch.channels_last), conv.bias, **kwargs
            )
        return reference_epilogue(y, conv.bias, **kwargs)

    def _adain(self, f: torch.Tensor, pad: int) -> torch.Tensor:
        if self.use_kernels and f.shape[1] % 8 == 0:
            from artem_kernels import adain

            return adain.adain(f, self.style_mean, self.style_std, self.alpha, pad=pad)
        return reference_adain(f, self.style_mean, self.style_std, self.alpha, pad=pad)

    def _run(self, convs: list[_Conv], p: torch.Tensor, last_pad: int) -> torch.Tensor:
        """Each conv, then its epilogue padded for the next conv (the last one by last_pad)."""
        for i, conv in enumerate(convs):
            y = F.conv2d(p, conv.weight)
            p = self._epilogue(y, conv, convs[i + 1].pad if i + 1 < len(convs) else last_pad)
        return p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y_in = luma(x) if self.preserve_color else None  # in 0..255: luma is linear
        src = y_in.expand(-1, 3, -1, -1) if y_in is not None else x
        p = F.pad(src, [self.encoder[0].pad] * 4, mode="reflect").contiguous(
            memory_format=torch.channels_last
        )
        f = self._run(self.encoder, p, 0)  # relu4_1
        p = self._adain(f, self.decoder[0].pad)
        p = self._run(self.decoder[:-1], p, self.decoder[-1].pad)
        last = self.decoder[-1]
        y = F.conv2d(p, last.weight, last.bias)[..., :h, :w]
        if y_in is not None:
            y = x + (luma(y) - y_in)  # the stylized luminance on the content's chroma
        return y
