"""The binary convolution's reference arithmetic, and xnor.cu's kernels run on the CPU.

The reference (artem_kernels.xnor_reference) must equal a float convolution of +-1 tensors
exactly, in both its forms (XOR popcount, AND identity), at odd sizes and channel counts that
are not multiples of 32. The pack and CUDA-core conv kernels' bodies, host-compiled
(tests/cuda/xnor_host.cu) and called through kernels/xnor.py's own launch code, must equal the
reference bit for bit. The tensor-core kernel runs only on a GPU (tests/test_xnor_gpu.py).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from artem_kernels import convert, xnor
from artem_kernels import xnor_reference as ref
from host_build import build_host_library, needs_nvcc
from test_kernels_emulated import HostModule

SHAPES = [  # (N, C_in, H, W, C_out)
    (1, 5, 7, 9, 3),
    (2, 40, 11, 6, 70),
    (1, 128, 9, 13, 128),
    (2, 130, 5, 4, 33),
]


def pm1(x: torch.Tensor) -> torch.Tensor:
    """sign with sign(0) = +1, as float64 +-1."""
    return torch.where(x >= 0, 1.0, -1.0).to(torch.float64)


def inputs(n: int, c: int, h: int, w: int, co: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, c, h, w), generator=g)
    x[x.abs() < 0.05] = 0.0  # zeros must count as +1
    weight = torch.randn((co, c, 3, 3), generator=g)
    bias = torch.randn((co,), generator=g)
    return x, weight, bias


def float_dot(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(N, H, W, CO) integers: the +-1 conv in float64, reflection padded."""
    y = F.conv2d(F.pad(pm1(x), [1] * 4, mode="reflect"), pm1(weight))
    return y.permute(0, 2, 3, 1)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_reference_equals_float_conv_of_signs(shape):
    x, weight, bias = inputs(*shape, seed=sum(shape))
    conv = ref.pack_weights(weight, bias)
    packed = ref.pack(x)
    expected = float_dot(x, weight)
    assert torch.equal(ref.dot_xor(packed, conv).to(torch.float64), expected)
    assert torch.equal(ref.dot_and(packed, conv).to(torch.float64), expected)


def test_reference_norm_before_sign_and_epilogue():
    n, c, h, w, co = 2, 40, 6, 7, 24
    x, weight, bias = inputs(n, c, h, w, co, seed=3)
    coef = torch.randn((n, c, 2))
    conv = ref.pack_weights(weight, bias)
    residual = torch.randn((n, co, h, w)).half()
    out = ref.conv3x3(ref.pack(x, coef), conv, residual)
    normed = x * coef[:, :, 0, None, None] + coef[:, :, 1, None, None]
    dot = float_dot(normed, weight).permute(0, 3, 1, 2)
    alpha = weight.abs().mean(dim=(1, 2, 3))
    expected = alpha[:, None, None] * dot + bias[:, None, None] + residual.double()
    assert out.dtype == torch.float16 and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out.double(), expected, rtol=2e-3, atol=2e-2)


def test_weights_pad_rows_and_words_with_zero_bits():
    conv = ref.pack_weights(torch.ones((70, 40, 3, 3)))
    assert tuple(conv.bits.shape) == (128, 9, 4)  # 70 rows -> 2 tiles of 64; 40 bits -> 4 words
    assert int(conv.popw[0]) == 9 * 40 and int(conv.popw[70:].abs().sum()) == 0
    assert torch.equal(conv.alpha, torch.ones(70))


# ---- the kernels' bodies on the host --------------------------------------------------------


@pytest.fixture(scope="module")
def host_lib(tmp_path_factory):
    return build_host_library(tmp_path_factory.mktemp("host"), "xnor_host.cu")


@pytest.fixture()
def emulated(monkeypatch, host_lib) -> None:
    module = HostModule(host_lib)
    monkeypatch.setattr(convert, "REQUIRE_CUDA", False)
    monkeypatch.setattr(xnor, "_module", lambda device_index: module)
    monkeypatch.setattr(convert, "_launch", lambda kernel, total, args: kernel(args))


@needs_nvcc
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("c", [45, 64])  # 64: the 16-byte loads
def test_pack_kernel_equals_reference(emulated, dtype, pad, norm, c):
    n, h, w = 2, 5, 7
    x = torch.randn((n, c, h, w)).to(dtype)
    x[:, :, 0, 0] = 0.0
    coef = torch.randn((n, c, 2)) if norm else None
    ours = xnor.pack(x.contiguous(memory_format=torch.channels_last), coef, pad)
    assert torch.equal(ours, ref.pack(x, coef, pad))


@needs_nvcc
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("with_residual", [False, True])
def test_xor_conv_kernel_equals_reference_bit_for_bit(emulated, shape, with_residual):
    n, c, h, w, co = shape
    x, weight, bias = inputs(*shape, seed=7 * sum(shape))
    conv = ref.pack_weights(weight, bias)
    packed = xnor.pack(x.contiguous(memory_format=torch.channels_last))
    residual = None
    if with_residual:
        residual = (20 * torch.randn((n, co, h, w))).half()
        residual = residual.contiguous(memory_format=torch.channels_last)
    ours = xnor.conv3x3(packed, conv, residual, path="xor")
    expected = ref.conv3x3(ref.pack(x), conv, residual)
    assert ours.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(ours.view(torch.int16), expected.view(torch.int16))


@needs_nvcc
def test_launcher_rejects_mismatched_inputs(emulated):
    x = torch.randn((1, 40, 6, 6)).contiguous(memory_format=torch.channels_last)
    conv = ref.pack_weights(torch.randn((8, 130, 3, 3)))
    with pytest.raises(ValueError, match="packed: .* does not hold 130 channels"):
        xnor.conv3x3(xnor.pack(x), conv, path="xor")
    with pytest.raises(ValueError, match="channels-last"):
        xnor.pack(torch.randn((1, 40, 6, 6)))
    with pytest.raises(ValueError, match="path 'fast'"):
        xnor.conv3x3(xnor.pack(x), ref.pack_weights(torch.randn((8, 40, 3, 3))), path="fast")
