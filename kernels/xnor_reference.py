"""The binary 3x3 convolution's integer arithmetic on the CPU: the reference for xnor.cu.

The same packed tensors and the same formulas as the kernels, so the CUDA path and this one
agree bit for bit (tests compare them), and the CPU path of an xnor model runs this code:

    bits     1 = +1 (v >= 0: sign(0) is +1), 0 = -1; channel c is bit c % 32 of word c // 32,
             words zero-padded to a multiple of 4 (128 bits, one tensor-core MMA's K)
    packed   (N, H + 2p, W + 2p, CW) int32 (uint32 bits), reflection padded: padding commutes
             with sign(), so it is exact on the bits
    weights  (CO_pad, 9, CW) int32 bits, tap 3 * ky + kx, CO_pad a multiple of 64, extra rows 0
    dot      N - 2 popc(a XOR w)  =  4 popc(a AND w) - 2 popc(a) - 2 popc(w) + N,  N = 9 C_in
    out      ((alpha * dot) + bias) + residual, each step rounded to float32 (no fused
             multiply-add), then cast to the output dtype (round to nearest even)

`dot_xor` counts bits with numpy (the CUDA-core kernel's form); `dot_and` gets popc(a AND w) as a
matrix product of 0/1 values (the tensor-core kernel's form; exact, as every partial sum is
an integer below 2**24) and is what the CPU path uses: it is BLAS-fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

WORD_GROUP = 4  # words per 128-bit MMA step
CO_TILE = 64  # output channels per tensor-core block (ARTEM_XNOR_BN)


def words_for(channels: int) -> int:
    """CW: 32-bit words per pixel for `channels`, rounded up to whole 128-bit groups."""
    return WORD_GROUP * -(-channels // (32 * WORD_GROUP))


def _pack_last_axis(bits: np.ndarray) -> np.ndarray:
    """bool (..., C) -> int32 (..., CW): channel c at bit c % 32 of word c // 32."""
    c = bits.shape[-1]
    padded = np.zeros(bits.shape[:-1] + (32 * words_for(c),), dtype=bool)
    padded[..., :c] = bits
    packed = np.packbits(padded, axis=-1, bitorder="little")  # (..., 4 * CW) uint8
    return np.ascontiguousarray(packed).view("<u4").view(np.int32)


def pack(x: torch.Tensor, coef: torch.Tensor | None = None, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) float -> (N, H + 2 pad, W + 2 pad, CW) int32 sign bits of x, or of
    x * scale + shift with coef (N, C, 2) float32 (an instance norm's affine, before the sign)."""
    v = x.detach().to("cpu", torch.float32)
    if coef is not None:
        c = coef.detach().to("cpu", torch.float32)
        v = v * c[:, :, 0, None, None]  # rounded ...
        v = v + c[:, :, 1, None, None]  # ... then rounded again, as the kernel does
    if pad:
        v = F.pad(v, [pad] * 4, mode="reflect")
    bits = (v >= 0).permute(0, 2, 3, 1).numpy()
    return torch.from_numpy(_pack_last_axis(bits))


@dataclass
class BinaryConv3x3:
    """A binary 3x3 conv's packed weights, as the kernels and this reference take them."""

    bits: torch.Tensor  # (CO_pad, 9, CW) int32
    popw: torch.Tensor  # (CO_pad,) int32: popc of each row of bits
    alpha: torch.Tensor  # (CO,) float32: mean |W| of each filter
    bias: torch.Tensor  # (CO,) float32
    c_in: int

    @property
    def c_out(self) -> int:
        return self.alpha.shape[0]

    def to(self, device: torch.device | str) -> BinaryConv3x3:
        return BinaryConv3x3(
            self.bits.to(device),
            self.popw.to(device),
            self.alpha.to(device),
            self.bias.to(device),
            self.c_in,
        )


def pack_weights(weight: torch.Tensor, bias: torch.Tensor | None = None) -> BinaryConv3x3:
    """Real weights (CO, CI, 3, 3) -> sign bits, popcounts and alpha = mean |W| per filter."""
    co, ci, kh, kw = weight.shape
    if (kh, kw) != (3, 3):
        raise ValueError(f"weight: expected (CO, CI, 3, 3), got {tuple(weight.shape)}")
    w = weight.detach().to("cpu", torch.float32)
    bits = _pack_last_axis((w >= 0).permute(0, 2, 3, 1).reshape(co, 9, ci).numpy())
    co_pad = CO_TILE * -(-co // CO_TILE)
    rows = np.zeros((co_pad, 9, bits.shape[-1]), dtype=np.int32)
    rows[:co] = bits
    popw = np.bitwise_count(rows.view(np.uint32)).sum(axis=(1, 2), dtype=np.int32)
    alpha = w.abs().mean(dim=(1, 2, 3))
    b = torch.zeros(co) if bias is None else bias.detach().to("cpu", torch.float32)
    return BinaryConv3x3(torch.from_numpy(rows), torch.from_numpy(popw), alpha, b.clone(), ci)


def _taps(packed: torch.Tensor) -> np.ndarray:
    """(N, H + 2, W + 2, CW) -> (N * H * W, 9 * CW) uint32: each output pixel's 3x3 window."""
    a = packed.numpy().view(np.uint32)
    n, hp, wp, cw = a.shape
    h, w = hp - 2, wp - 2
    windows = [a[:, ky : ky + h, kx : kx + w] for ky in range(3) for kx in range(3)]
    return np.stack(windows, axis=3).reshape(n * h * w, 9 * cw)


def dot_xor(packed: torch.Tensor, conv: BinaryConv3x3, chunk: int = 2048) -> torch.Tensor:
    """(N, H, W, CO) int32 dot products by popc(a XOR w), as the CUDA-core kernel counts."""
    n, hp, wp, _ = packed.shape
    a = _taps(packed)
    w = conv.bits[: conv.c_out].numpy().view(np.uint32).reshape(conv.c_out, -1)
    out = np.empty((a.shape[0], conv.c_out), dtype=np.int32)
    for i in range(0, a.shape[0], chunk):
        mismatches = np.bitwise_count(a[i : i + chunk, None, :] ^ w[None]).sum(-1, dtype=np.int32)
        out[i : i + chunk] = 9 * conv.c_in - 2 * mismatches
    return torch.from_numpy(out).reshape(n, hp - 2, wp - 2, conv.c_out)


def _unpacked(words: np.ndarray) -> torch.Tensor:
    """uint32 (R, K words) -> float32 (R, 32 K) of 0/1 bits, in bit order."""
    bits = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")
    return torch.from_numpy(bits).to(torch.float32)


def dot_and(packed: torch.Tensor, conv: BinaryConv3x3, chunk: int = 8192) -> torch.Tensor:
    """(N, H, W, CO) int32 dot products by the AND identity, as the tensor-core kernel counts:
    popc(a AND w) as a 0/1 matrix product (exact: every partial sum is an integer < 2**24)."""
    n, hp, wp, _ = packed.shape
    a = _taps(packed)
    w = conv.bits[: conv.c_out].numpy().view(np.uint32).reshape(conv.c_out, -1)
    w01 = _unpacked(w).T
    pop_a = torch.from_numpy(np.bitwise_count(a).sum(-1, dtype=np.int32))
    pop_w = conv.popw[: conv.c_out]
    out = torch.empty((a.shape[0], conv.c_out), dtype=torch.int32)
    for i in range(0, a.shape[0], chunk):
        both = (_unpacked(a[i : i + chunk]) @ w01).to(torch.int32)  # popc(a AND w)
        out[i : i + chunk] = 4 * both - 2 * pop_a[i : i + chunk, None] - 2 * pop_w
    return (out + 9 * conv.c_in).reshape(n, hp - 2, wp - 2, conv.c_out)


def epilogue(
    dot: torch.Tensor,
    conv: BinaryConv3x3,
    residual: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float16,
) -> torch.Tensor:
    """(N, H, W, CO) int32 -> (N, CO, H, W) `dtype`, channels-last: scale, bias, residual."""
    v = conv.alpha * dot.to(torch.float32)
    v = v + conv.bias
    if residual is not None:
        v = v + residual.detach().to("cpu", torch.float32).permute(0, 2, 3, 1)
    return v.to(dtype).permute(0, 3, 1, 2)


def conv3x3(
    packed: torch.Tensor,
    conv: BinaryConv3x3,
    residual: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float16,
    method: str = "and",
) -> torch.Tensor:
    """The binary conv of pack(x, pad=1): (N, CO, H, W) in `dtype`, channels-last memory."""
    dot = dot_and(packed, conv) if method == "and" else dot_xor(packed, conv)
    return epilogue(dot, conv, residual, dtype)
