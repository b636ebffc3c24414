"""The xnor generator on CUDA: binary residual blocks on artem_kernels.xnor, the rest fused.

The real-valued layers run as backends.fused_generator runs the generator's (blocked 9x9 ends,
instance norms fused with ReLU, upsampling and the next conv's padding). Each binary unit of a
residual block, x + bconv(sign(norm(x))), is four launches on the fp16 channels-last residual
stream: the norm's statistics and coefficients (artem_kernels.instnorm), the sign-pack with the
norm's affine applied before the sign and the reflection padding done on the bits, and the
binary conv with alpha, bias and the shortcut add in its epilogue. The normalized tensor and
the padded one never exist; a binary unit reads the stream twice and writes it once.

Layer for layer the same function as models.xnor.PackedXnorGenerator (whose binary convs run on
the CPU reference arithmetic, bit for bit the kernels' integers).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models.xnor import PackedXnorGenerator
from .fused_generator import FusedGenerator, block, unblock


class FusedXnor(FusedGenerator):
    """Runs `net` (a PackedXnorGenerator in fp16, channels-last, on CUDA) on the kernels.
    In: (N, 3, H, W) float16 with H, W multiples of 4; out: the same shape."""

    def __init__(self, net: PackedXnorGenerator) -> None:
        super().__init__(net, use_kernels=True)
        self._binary = [(b.conv1.conv(), b.conv2.conv()) for b in net.blocks()]

    def unit(self, r: torch.Tensor, norm: str, conv) -> torch.Tensor:
        """r + bconv(sign(norm(r))) on the kernels; r (N, C, H, W) fp16 channels-last."""
        from artem_kernels import instnorm, xnor

        weight, bias, eps = self._affine[norm]
        coef = instnorm.coefficients(r, instnorm.stats(r), weight, bias, eps)
        return xnor.conv3x3(xnor.pack(r, coef, 1), conv, residual=r)

    def upsample_pad(self, r: torch.Tensor) -> torch.Tensor:
        """deconv1's input: r upsampled x2 (nearest, or bilinear when anti-aliased), padded by 1."""
        if self.net.config.antialias:
            v = F.interpolate(r, scale_factor=2, mode="bilinear", align_corners=False)
            return F.pad(v, [1] * 4, mode="reflect").contiguous(memory_format=torch.channels_last)
        from artem_kernels import instnorm

        n, c = r.shape[:2]
        identity = torch.zeros((n, c, 2), dtype=torch.float32, device=r.device)
        identity[..., 0] = 1.0  # v * 1 + 0: the apply pass only upsamples and pads
        return instnorm.apply(r, identity, relu=False, upsample=2, pad=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        y = F.conv2d(block(F.pad(x, [4] * 4, mode="reflect")), self._first)  # blocked
        p = self.norm("in1", y, relu=True, pad=1, blocked_in=True)
        y = self.down(net.conv2, p)
        p = self.norm("in2", y, relu=True, pad=1)
        y = self.down(net.conv3, p)
        r = self.norm("in3", y, relu=True, pad=0)  # the residual stream, unpadded
        for i, (conv1, conv2) in enumerate(self._binary, start=1):
            r = self.unit(r, f"res{i}.norm1", conv1)
            r = self.unit(r, f"res{i}.norm2", conv2)
        y = self.conv(net.deconv1, self.upsample_pad(r))
        p = self.up_norm("in4", y, relu=True, pad=1)
        y = self.conv(net.deconv2, p)
        p = self.norm("in5", y, relu=True, pad=4, blocked_out=True)
        return unblock(F.conv2d(p, self._last, self._last_bias))
