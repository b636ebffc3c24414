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

Layer for layer the same function as models.generator.Generator (the residual stream is kept
padded by 1, its interior being the block's input).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.generator import ConvLayer, Generator


def reference_norm(y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float, *,
                   relu: bool, residual: torch.Tensor | None = None, residual_pad: int = 0,
                   upsample: int = 1, pad: int = 0) -> torch.Tensor:
    """InstanceNorm2d(affine) [+ReLU] [+residual interior], nearest upsample, reflection pad;
    statistics in float32; the result in y's dtype, channels-last."""
    yf = y.float()
    mean = yf.mean(dim=(2, 3), keepdim=True)
    var = yf.var(dim=(2, 3), unbiased=False, keepdim=True)
    v = (yf - mean) * torch.rsqrt(var + eps) * weight.float().view(1, -1, 1, 1) + bias.float().view(1, -1, 1, 1)
    if relu:
        v = F.relu(v)
    if residual is not None:
        h, w = y.shape[-2:]
        v = v + residual[..., residual_pad:residual_pad + h, residual_pad:residual_pad + w].float()
    if upsample > 1:
        v = F.interpolate(v, scale_factor=upsample, mode="nearest")
    if pad:
        v = F.pad(v, [pad] * 4, mode="reflect")
    return v.to(y.dtype).contiguous(memory_format=torch.channels_last)


class FusedGenerator(nn.Module):
    """Runs `net` (a Generator already in its dtype, device and channels-last) with fused norms.
    In: (N, 3, H, W) with H, W multiples of 4; out: the same shape, like Generator."""

    size_multiple = Generator.size_multiple

    def __init__(self, net: Generator, use_kernels: bool) -> None:
        super().__init__()
        self.net = net
        self.use_kernels = use_kernels
        # The kernels take float32 affine parameters: convert once, not per frame.
        self._affine = {name: (m.weight.detach().float().contiguous(), m.bias.detach().float().contiguous(), m.eps)
                        for name, m in net.named_modules() if isinstance(m, nn.InstanceNorm2d)}

    def norm(self, name: str, y: torch.Tensor, **kwargs) -> torch.Tensor:
        weight, bias, eps = self._affine[name]
        if self.use_kernels and y.shape[1] % 8 == 0:  # the kernels move 8 channels at a time
            from artem_kernels import instnorm

            residual = kwargs.get("residual")
            if residual is not None:
                kwargs["residual"] = residual.contiguous(memory_format=torch.channels_last)
            # cuDNN returns channels-last here (weights and inputs are); a no-op unless it did not
            return instnorm.instance_norm(y.contiguous(memory_format=torch.channels_last), weight, bias, eps,
                                          **kwargs)
        return reference_norm(y, weight, bias, eps, **kwargs)

    @staticmethod
    def conv(layer: ConvLayer, padded: torch.Tensor) -> torch.Tensor:
        """A conv whose output goes into an instance norm: its bias would cancel there."""
        c = layer.conv2d
        return F.conv2d(padded, c.weight, None, stride=c.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net, blocks = self.net, self.net.config.res_blocks
        # pads: the next conv's kernel // 2; up: the next layer is an UpsampleConvLayer
        y = self.conv(net.conv1, F.pad(x, [4] * 4, mode="reflect"))
        p = self.norm("in1", y, relu=True, pad=1)
        y = self.conv(net.conv2, p)
        p = self.norm("in2", y, relu=True, pad=1)
        y = self.conv(net.conv3, p)
        r = self.norm("in3", y, relu=True, pad=1, upsample=1 if blocks else 2)  # the residual stream
        for i in range(1, blocks + 1):
            y = self.conv(getattr(net, f"res{i}").conv1, r)
            t = self.norm(f"res{i}.in1", y, relu=True, pad=1)
            y = self.conv(getattr(net, f"res{i}").conv2, t)
            r = self.norm(f"res{i}.in2", y, relu=False, residual=r, residual_pad=1, pad=1,
                          upsample=2 if i == blocks else 1)
        y = self.conv(net.deconv1, r)
        p = self.norm("in4", y, relu=True, upsample=2, pad=1)
        y = self.conv(net.deconv2, p)
        p = self.norm("in5", y, relu=True, pad=4)
        last = net.deconv3.conv2d  # the output: the one conv that keeps its bias
        return F.conv2d(p, last.weight, last.bias)
