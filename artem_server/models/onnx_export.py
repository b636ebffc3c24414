"""Models as ONNX graphs: for the onnxruntime backend (in memory) and for the `model.onnx` that
artem-train writes beside an entry's weights, which an engine's own runtime (Unity Sentis,
Unreal NNE, ONNX Runtime in C++) can run without ArtEm.

torch.onnx's dynamo exporter, with batch, height and width dynamic. ONNX files are data (a
protobuf graph and its weights): loading one runs no Python.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from .adain import AdaINNet, adain

ONNX_FILE = "model.onnx"

GENERATOR_IO = (
    "model.onnx: input x float32 (N, 3, H, W), RGB 0..255 sRGB, H and W multiples of 4; "
    "output y, the same shape, about 0..255 (clamp it)"
)
ADAIN_IO = (
    "model.onnx: inputs x float32 (N, 3, H, W), RGB 0..255 sRGB, H and W multiples of 8; "
    "style_mean and style_std float32 (N, 512, 1, 1), a style entry's relu4_1.mean and "
    "relu4_1.std; alpha float32 scalar in [0, 1] (the strength); output y, the shape of x, "
    "about 0..255 (clamp it)"
)


def _export(net: nn.Module, example: tuple, dynamic: tuple, inputs: list[str]) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter, not ours to fix
        program = torch.onnx.export(
            net,
            example,
            None,
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=inputs,
            output_names=["y"],
            verbose=False,
        )
    return program.model_proto.SerializeToString()


def _image_dims(batch: torch.export.Dim) -> dict:
    return {0: batch, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}


def export_onnx(
    model: nn.Module, dtype: torch.dtype = torch.float32, example_hw: tuple[int, int] = (64, 64)
) -> bytes:
    """ONNX bytes of an image-to-image `model` in `dtype`: input `x` (N, 3, H, W), output `y`,
    N, H and W dynamic. Traced on the CPU; H and W must be multiples of the model's size
    multiple."""
    net = copy.deepcopy(model).to("cpu", dtype).eval()
    x = torch.rand(2, 3, *example_hw).mul(255).to(dtype)
    return _export(net, (x,), (_image_dims(torch.export.Dim("batch", max=64)),), ["x"])


class _AdaINGraph(nn.Module):
    """The AdaIN net with the style as inputs: what AdaINStylizer computes (without colour
    preservation) for any style of the model, chosen per call."""

    def __init__(self, net: AdaINNet) -> None:
        super().__init__()
        self.net = net

    def forward(
        self,
        x: torch.Tensor,
        style_mean: torch.Tensor,
        style_std: torch.Tensor,
        alpha: torch.Tensor,
    ) -> torch.Tensor:
        f = self.net.encode(x / 255)
        return self.net.decode(torch.lerp(f, adain(f, style_mean, style_std), alpha)) * 255


def export_adain_onnx(net: AdaINNet) -> bytes:
    """ONNX bytes (fp32) of an AdaIN model taking the style's statistics and alpha as inputs;
    see ADAIN_IO."""
    graph = _AdaINGraph(copy.deepcopy(net).to("cpu", torch.float32).eval())
    batch = torch.export.Dim("batch", max=64)
    example = (
        torch.rand(2, 3, 64, 64) * 255,
        torch.rand(2, 512, 1, 1),
        torch.rand(2, 512, 1, 1) + 0.5,
        torch.tensor(0.5),
    )
    return _export(
        graph,
        example,
        (_image_dims(batch), {0: batch}, {0: batch}, None),
        ["x", "style_mean", "style_std", "alpha"],
    )
