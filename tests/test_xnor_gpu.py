"""xnor.cu on a real GPU: packing and both binary convolutions (tensor cores, CUDA cores)
against the CPU reference bit for bit, at odd sizes and channel counts that are not multiples
of 32, with the instance-norm affine before the sign and the residual add after the conv.
Skipped without CUDA and CuPy; bench/gpu_check.sh runs them on a GPU machine."""

from __future__ import annotations

import pytest
import torch
from artem_kernels import xnor
from artem_kernels import xnor_reference as ref

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not xnor.available(), reason="needs CUDA and CuPy"),
]

CUDA = torch.device("cuda")
SHAPES = [  # (N, C_in, H, W, C_out)
    (1, 5, 7, 9, 3),
    (2, 40, 11, 6, 70),
    (2, 128, 33, 47, 128),
    (1, 130, 19, 5, 33),
    (2, 128, 120, 114, 128),  # many pixel tiles, the last one partial
]


def channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("norm", [False, True])
def test_pack_equals_reference(dtype, norm):
    n, c, h, w = 2, 133, 17, 9
    x = torch.randn((n, c, h, w)).to(dtype)
    x[:, :, 3, 4] = 0.0
    coef = torch.randn((n, c, 2)) if norm else None
    ours = xnor.pack(channels_last(x.to(CUDA)), coef.to(CUDA) if norm else None, 1)
    assert torch.equal(ours.cpu(), ref.pack(x, coef, 1))


@pytest.mark.parametrize("path", ["mma", "xor"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("with_residual", [False, True])
def test_conv_equals_reference_bit_for_bit(path, shape, with_residual):
    if path == "mma" and not xnor.tensor_cores(CUDA):
        pytest.skip("no 1-bit tensor cores (compute capability < 8.0)")
    n, c, h, w, co = shape
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn((n, c, h, w), generator=g).half()
    conv = ref.pack_weights(torch.randn((co, c, 3, 3), generator=g), torch.randn(co, generator=g))
    residual = (20 * torch.randn((n, co, h, w), generator=g)).half() if with_residual else None
    expected = ref.conv3x3(ref.pack(x), conv, residual)
    packed = xnor.pack(channels_last(x.to(CUDA)))
    res = channels_last(residual.to(CUDA)) if with_residual else None
    ours = xnor.conv3x3(packed, conv.to(CUDA), res, path=path).cpu()
    assert torch.equal(ours.view(torch.int16), expected.view(torch.int16))


def test_runs_on_torch_current_stream():
    x = channels_last(torch.randn((2, 128, 64, 48), device=CUDA).half())
    conv = ref.pack_weights(torch.randn((128, 128, 3, 3))).to(CUDA)
    expected = xnor.conv3x3(xnor.pack(x), conv)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        y = x * 1  # queued on the side stream: the kernels must see it finished
        out = xnor.conv3x3(xnor.pack(y), conv)
    side.synchronize()
    assert torch.equal(out, expected)
