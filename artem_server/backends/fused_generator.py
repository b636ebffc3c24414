"""The generator's forward pass with its instance norms fused (torch-optimized's `fused` mode).

Each InstanceNorm2d, with the ReLU or residual add after it, the nearest x2 upsampling before
the next conv and that conv's reflection padding, becomes one `norm` step that writes the next
conv's padded input directly; the convs run unpadded (cuDNN, channels-last). On CUDA with CuPy
`norm` is artem_kernels.instnorm (three launches, one read for statistics, one read and one
write for the rest); elsewhere it is the same function in torch ops (`reference_norm`), which
is also what the kernels are tested against.

Convs that feed an instance norm run without their bias: the norm subtracts each channel's mean,
so a per-channel constant cancels exactly, and cuDNN adds a bias to channels-last output in a
separate slow pass (3.3 ms a frame at Quest 2 stereo on an H200; bench/NOTES-gpu.md).

The two 9x9 convs at the ends (3 -> 32 and 32 -> 3 channels at full resolution) run on images
in 2x2 pixel blocks (`block`): the same function as a 5x5 conv from and to 4x the channels at
half resolution, which cuDNN runs on tensor cores, where its kernels for 3 channels took 7.4
of 15.6 ms at Quest 2 stereo on an H100. The norms read conv1's blocked output and write
deconv3's blocked input themselves (`blocked_in`, `blocked_out`): no pass of its own.

Layer for layer the same function as models.generator.Generator (the residual stream is kept
padded by 1, its interior being the block's input).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.generator import BlurConvLayer, ConvLayer, Generator


def reference_norm(
    y: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
    *,
    relu: bool,
    residual: torch.Tensor | None = None,
    residual_pad: int = 0,
    upsample: int = 1,
    pad: int = 0,
    blocked_in: bool = False,
    blocked_out: bool = False,
) -> torch.Tensor:
    """InstanceNorm2d(affine) [+ReLU] [+residual interior], nearest upsample, reflection pad;
    statistics in float32; the result in y's dtype, channels-last. `blocked_in`/`blocked_out`:
    y is block(image) / the result is block(result)."""
    if blocked_in:
        y = unblock(y)
    if blocked_out:
        return block(
            reference_norm(
                y,
                weight,
                bias,
                eps,
                relu=relu,
                residual=residual,
                residual_pad=residual_pad,
                upsample=upsample,
                pad=pad,
            )
        )
    yf = y.float()
    mean = yf.mean(dim=(2, 3), keepdim=True)
    var = yf.var(dim=(2, 3), unbiased=False, keepdim=True)
    v = (yf - mean) * torch.rsqrt(var + eps) * weight.float().view(1, -1, 1, 1) + bias.float().view(
        1, -1, 1, 1
    )
    if relu:
        v = F.relu(v)
    if residual is not None:
        h, w = y.shape[-2:]
        v = (
            v
            + residual[
                ..., residual_pad : residual_pad + h, residual_pad : residual_pad + w
            ].float()
        )
    if upsample > 1:
        v = F.interpolate(v, scale_factor=upsample, mode="nearest")
    if pad:
        v = F.pad(v, [pad] * 4, mode="reflect")
    return v.to(y.dtype).contiguous(memory_format=torch.channels_last)


def block(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W), H and W even -> its 2x2 pixel blocks, (N, 4C, H/2, W/2) channels-last:
    channel s*C + c is pixel (2I + s//2, 2J + s%2)'s channel c (artem_kernels' blocked layout)."""
    n, c, h, w = x.shape
    out = torch.empty(
        (n, 4 * c, h // 2, w // 2),
        dtype=x.dtype,
        device=x.device,
        memory_format=torch.channels_last,
    )
    out.permute(0, 2, 3, 1).view(n, h // 2, w // 2, 2, 2, c).copy_(
        x.unflatten(2, (h // 2, 2)).unflatten(4, (w // 2, 2)).permute(0, 2, 4, 3, 5, 1)
    )
    return out


def unblock(x: torch.Tensor) -> torch.Tensor:
    """block's inverse: (N, 4C, H/2, W/2) -> (N, C, H, W) channels-last."""
    n, c4, h2, w2 = x.shape
    c = c4 // 4
    out = torch.empty(
        (n, c, 2 * h2, 2 * w2), dtype=x.dtype, device=x.device, memory_format=torch.channels_last
    )
    out.permute(0, 2, 3, 1).view(n, h2, 2, w2, 2, c).copy_(
        x.permute(0, 2, 3, 1).unflatten(3, (2, 2, c)).permute(0, 1, 3, 2, 4, 5)
    )
    return out


def blocked_weight(w: torch.Tensor) -> torch.Tensor:
    """A stride-1 conv's (O, C, k, k) weight, k odd, as the same conv from and to blocked
    images: (4O, 4C, (k+1)//2, (k+1)//2), so that conv2d(block(x), blocked_weight(w)) is
    block(conv2d(x, w)) for x of even height and width."""
    o, c, k, k2 = w.shape
    if k % 2 == 0 or k2 != k:
        raise ValueError(f"blocked_weight: expected a square odd kernel, got {k}x{k2}")
    kk = (k + 1) // 2
    # output pixel 2I+a takes input pixel 2I+a+u = block I+P's row p, where u = 2P+p-a is
    # a tap of w when 0 <= u < k
    wp = F.pad(w, [1, 1, 1, 1])  # zero taps outside the kernel; tap u is wp's u+1
    out = w.new_empty(2, 2, o, 2, 2, c, kk, kk)
    for a in range(2):
        for b in range(2):
            for p in range(2):
                for q in range(2):
                    out[a, b, :, p, q] = wp[:, :, p - a + 1 :: 2, q - b + 1 :: 2][:, :, :kk, :kk]
    return out.reshape(4 * o, 4 * c, kk, kk)


class FusedGenerator(nn.Module):
    """Runs `net` (a Generator already in its dtype, device and channels-last) with fused norms.
    In: (N, 3, H, W) with H, W multiples of 4; out: the same shape, like Generator."""

    size_multiple = Generator.size_multiple

    def __init__(self, net: Generator, use_kernels: bool) -> None:
        super().__init__()
        self.net = net
        self.use_kernels = use_kernels
        # The kernels take float32 affine parameters: convert once, not per frame.
        self._affine = {
            name: (
                m.weight.detach().float().contiguous(),
                m.bias.detach().float().contiguous(),
                m.eps,
            )
            for name, m in net.named_modules()
            if isinstance(m, nn.InstanceNorm2d)
        }
        # The 9x9 ends run on blocked images; conv1 feeds a norm, so it runs without its bias.
        first, last = net.conv1.conv2d, net.deconv3.conv2d
        self._first = blocked_weight(first.weight.detach()).contiguous(
            memory_format=torch.channels_last
        )
        self._last = blocked_weight(last.weight.detach()).contiguous(
            memory_format=torch.channels_last
        )
        self._last_bias = last.bias.detach().repeat(4) if last.bias is not None else None

    def norm(self, name: str, y: torch.Tensor, **kwargs) -> torch.Tensor:
        weight, bias, eps = self._affine[name]
        blocks = 4 if kwargs.get("blocked_in") else 1
        if (
            self.use_kernels and y.shape[1] % (8 * blocks) == 0
        ):  # the kernels move 8 channels at a time
            from artem_kernels import instnorm

            residual = kwargs.get("residual")
            if residual is not None:
                kwargs["residual"] = residual.contiguous(memory_format=torch.channels_last)
            # cuDNN returns channels-last here (weights and inputs are); a no-op unless it did not
            return instnorm.instance_norm(
                y.contiguous(memory_format=torch.channels_last), weight, bias, eps, **kwargs
            )
        return reference_norm(y, weight, bias, eps, **kwargs)

    def up_norm(self, name: str, y: torch.Tensor, *, pad: int, **kwargs) -> torch.Tensor:
        """A norm whose result is upsampled x2 and padded: in the kernel (nearest), or, for an
        anti-aliased net, bilinear in torch after it."""
        if not self.net.config.antialias:
            return self.norm(name, y, upsample=2, pad=pad, **kwargs)
        v = F.interpolate(
            self.norm(name, y, pad=0, **kwargs),
            scale_factor=2,
            mode="bilinear",
            align_corners=False,
        )
        return F.pad(v, [pad] * 4, mode="reflect").contiguous(memory_format=torch.channels_last)

    def down(self, layer: ConvLayer, padded: torch.Tensor) -> torch.Tensor:
        """A stride-2 conv on a norm's output padded by 1; an anti-aliased layer blurs it first
        (the blur uses that padding, the conv gets its own)."""
        if isinstance(layer, BlurConvLayer):
            blurred = F.conv2d(padded, layer.blur.to(padded.dtype), groups=padded.shape[1])
            padded = F.pad(blurred, [1] * 4, mode="reflect").contiguous(
                memory_format=torch.channels_last
            )
        return self.conv(layer, padded)

    @staticmethod
    def conv(layer: ConvLayer, padded: torch.Tensor) -> torch.Tensor:
        """A conv whose output goes into an instance norm: its bias would cancel there."""
        c = layer.conv2d
        return F.conv2d(padded, c.weight, None, stride=c.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net, blocks = self.net, self.net.config.res_blocks
        # pads: the next conv's kernel // 2; up: the next layer is an UpsampleConvLayer
        y = F.conv2d(block(F.pad(x, [4] * 4, mode="reflect")), self._first)  # blocked
        p = self.norm("in1", y, relu=True, pad=1, blocked_in=True)
        y = self.down(net.conv2, p)
        p = self.norm("in2", y, relu=True, pad=1)
        y = self.down(net.conv3, p)
        # the residual stream
        r = (
            self.norm("in3", y, relu=True, pad=1)
            if blocks
            else self.up_norm("in3", y, relu=True, pad=1)
        )
        for i in range(1, blocks + 1):
            y = self.conv(getattr(net, f"res{i}").conv1, r)
            t = self.norm(f"res{i}.in1", y, relu=True, pad=1)
            y = self.conv(getattr(net, f"res{i}").conv2, t)
            norm = self.up_norm if i == blocks else self.norm
            r = norm(f"res{i}.in2", y, relu=False, residual=r, residual_pad=1, pad=1)
        y = self.conv(net.deconv1, r)
        p = self.up_norm("in4", y, relu=True, pad=1)
        y = self.conv(net.deconv2, p)
        p = self.norm("in5", y, relu=True, pad=4, blocked_out=True)
        return unblock(F.conv2d(p, self._last, self._last_bias))  # the one conv that keeps its bias
