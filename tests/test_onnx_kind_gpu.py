"""Imported ONNX graphs on CUDA: ONNX Runtime's CUDA provider with IO binding on torch's device
memory gives what its CPU provider gives, for an NCHW zoo-shaped net in batches and an NHWC
0..1 pair of batch 1 with its style vector bound beside the image. Skipped without CUDA (and
without onnxruntime-gpu's CUDA provider)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from onnx_fixtures import magenta_pair, zoo_style
from test_onnx_kind_import import planar, served, write

from artem_server.backends import create_runner
from artem_server.models.onnx_import import import_network, import_pair
from artem_server.models.onnx_pair import load_pair, style_vector
from artem_server.models.store import read_entry

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

CUDA = torch.device("cuda")


def _ort_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(autouse=True)
def _needs_cuda_provider() -> None:
    if not _ort_cuda():
        pytest.skip("onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu)")


def test_a_zoo_shaped_graph_on_cuda_matches_the_cpu(tmp_path: Path, photo: np.ndarray) -> None:
    got = import_network(write(tmp_path, "z.onnx", zoo_style()), "z", tmp_path / "m")
    net = served(got.entry.path)
    x = planar(photo[:96, :160]).repeat(2, 1, 1, 1)
    runner = create_runner("onnxruntime", net, CUDA, "fp32")
    with torch.inference_mode():
        y = runner(x.to(CUDA))
        torch.cuda.synchronize()
        assert y.device.type == "cuda"  # written by ORT into torch's memory, never via the host
        np.testing.assert_allclose(y.cpu().numpy(), net(x).numpy(), atol=1e-2)


def test_a_pair_style_on_cuda_matches_the_cpu(tmp_path: Path, photo: np.ndarray) -> None:
    predict, transfer = magenta_pair()
    paths = [write(tmp_path, "p.onnx", predict), write(tmp_path, "t.onnx", transfer)]
    pair = load_pair(read_entry(import_pair(paths, "mag", tmp_path / "m").entry.path))
    net = pair.style(style_vector(pair, photo[:64, :64]))
    x = planar(photo[:72, :88]).repeat(2, 1, 1, 1)
    runner = create_runner("onnxruntime", net, CUDA, "fp32")
    with torch.inference_mode():
        y = runner(x.to(CUDA))
        torch.cuda.synchronize()
        np.testing.assert_allclose(y.cpu().numpy(), net(x).numpy(), atol=1e-2)
