"""Models as ONNX graphs: for the onnxruntime backend (in memory) and for the `model.onnx` that
artem-train writes beside an entry's weights, which an engine's own runtime (Unity Sentis,
Unreal NNE, ONNX Runtime in C++) can run without ArtEm.

torch.onnx's dynamo exporter, with batch, height and width dynamic. ONNX files are data (a
protobuf graph and its weights): loading one runs no Python. Each export records the digest of
the weights it was made from (`WEIGHTS_DIGEST_KEY` in the graph's metadata), so a model.onnx
left beside weights that changed since is recognised as stale and not served.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import logging
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from .adain import AdaINNet, adain
from .generator import ConvLayer

ONNX_FILE = "model.onnx"
WEIGHTS_DIGEST_KEY = "artem.weights_sha256"

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


def weights_digest(module: nn.Module) -> str:
    """sha256 of the module's state as fp32 (names, shapes, values): equal for a trained net
    rounded to fp16 and the same net loaded back from its fp16 entry."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().to("cpu")
        t = t.float() if t.is_floating_point() else t
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()


def _export(
    net: nn.Module, example: tuple, dynamic: tuple, inputs: list[str], digest: str
) -> bytes:
    quiet = [logging.getLogger(n) for n in ("onnx_ir", "onnxscript")]
    levels = [q.level for q in quiet]
    try:
        for q in quiet:  # the exporter's optimiser logs a line per pass
            q.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its deprecation chatter, not ours to fix
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
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    proto = program.model_proto
    _store_half(proto)
    proto.metadata_props.add(key=WEIGHTS_DIGEST_KEY, value=digest)
    return proto.SerializeToString()


def _store_half(proto) -> None:
    """Store each fp32 weight that fp16 holds exactly (every weight of an entry kept in fp16)
    as fp16 and a Cast back: half the file, the same graph. ONNX Runtime folds the casts when
    it loads the graph, so the convolutions see fp32 constants as before."""
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(init)
        if w.size < 64 or not (w.astype("float16").astype("float32") == w).all():
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(w.astype("float16"), name + ".fp16"))
        casts.append(helper.make_node("Cast", [name + ".fp16"], [name], to=TensorProto.FLOAT))
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)


CIN_IO = (
    "model.onnx: inputs x float32 (N, 3, H, W), RGB 0..255 sRGB, H and W multiples of 4; "
    "vector float32 (N, D), a style entry's style vector; output y, the shape of x, about "
    "0..255 (clamp it)"
)


def _image_dims(batch: torch.export.Dim) -> dict:
    return {0: batch, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}


class SubpixelConv(nn.Module):
    """A ConvLayer (reflection pad k//2, stride-1 k x k conv) computed exactly as one stride-2
    conv whose output channels are the 4 output phases (each phase's kernel is the k x k one
    shifted by its offset inside a (k+1)-square), then a depth-to-space. For an output conv of
    few channels (the generator's 9x9 16->3) this is what ONNX Runtime's CPU convolutions want:
    they compute output channels in blocks of 8 or 16, so 3 channels waste most of each block,
    12 do not. On a 2-core AVX-512 machine the painting styles' frame took about a third less
    time (model only, 512x512, interleaved)."""

    def __init__(self, layer: ConvLayer) -> None:
        super().__init__()
        conv = layer.conv2d
        k = conv.kernel_size[0]
        w = conv.weight.detach()
        phases = torch.zeros(4 * conv.out_channels, conv.in_channels, k + 1, k + 1, dtype=w.dtype)
        # output phase (r, s) of channel o is channel o*4 + r*2 + s: pixel_shuffle's order
        for r, s in itertools.product((0, 1), repeat=2):
            phases[r * 2 + s :: 4, :, r : r + k, s : s + k] = w
        self.pad = k // 2
        self.weight = nn.Parameter(phases, requires_grad=False)
        self.bias = nn.Parameter(conv.bias.detach().repeat_interleave(4), requires_grad=False)

    @staticmethod
    def suits(module: nn.Module) -> bool:
        """A stride-1 ConvLayer with an odd kernel and at most 4 output channels. Its subclasses
        (UpsampleConvLayer: x2 upsampling first) are not: swapping one drops its upsampling."""
        if type(module) is not ConvLayer:
            return False
        c = module.conv2d
        return (
            c.stride == (1, 1)
            and c.kernel_size[0] == c.kernel_size[1] > 1
            and c.kernel_size[0] % 2 == 1
            and c.out_channels <= 4
            and c.groups == 1
            and c.dilation == (1, 1)
            and c.bias is not None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W), H and W even (the generator's frames are multiples of 4)."""
        p = self.pad  # one more row and column at the end: the (k+1)-square's last phase
        x = F.pad(x, [p, p + 1, p, p + 1], mode="reflect")
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, stride=2), 2)


def _subpixel_outputs(net: nn.Module) -> None:
    """Swap every ConvLayer that SubpixelConv suits for its sub-pixel form, in place."""
    for name, child in list(net.named_children()):
        if SubpixelConv.suits(child):
            setattr(net, name, SubpixelConv(child))
        else:
            _subpixel_outputs(child)


def export_onnx(
    model: nn.Module, dtype: torch.dtype = torch.float32, example_hw: tuple[int, int] = (64, 64)
) -> bytes:
    """ONNX bytes of an image-to-image `model` in `dtype`: input `x` (N, 3, H, W), output `y`,
    N, H and W dynamic. Traced on the CPU; H and W must be multiples of the model's size
    multiple. Its few-channel output convs are exported in their sub-pixel form (the same
    function, SubpixelConv)."""
    digest = weights_digest(model)
    net = copy.deepcopy(model).to("cpu", dtype).eval()
    _subpixel_outputs(net)
    x = torch.rand(2, 3, *example_hw).mul(255).to(dtype)
    return _export(net, (x,), (_image_dims(torch.export.Dim("batch", max=64)),), ["x"], digest)


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
        weights_digest(net),
    )


def export_cin_onnx(net: nn.Module) -> bytes:
    """ONNX bytes (fp32) of the fast adain net (models/adain_cin.CINNet: its forward takes the
    frame and a style vector, so one graph serves all its styles); see CIN_IO."""
    digest = weights_digest(net)
    graph = copy.deepcopy(net).to("cpu", torch.float32).eval()
    _subpixel_outputs(graph)
    batch = torch.export.Dim("batch", max=64)
    example = (torch.rand(2, 3, 64, 64) * 255, torch.randn(2, graph.config.style_dim))
    return _export(graph, example, (_image_dims(batch), {0: batch}), ["x", "vector"], digest)
