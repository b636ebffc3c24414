"""ONNX files shaped like the ones users bring, made here with onnx.helper (nothing downloads),
each computing a function a test can check pixel by pixel:

- `zoo_style`: the ONNX Model Zoo's fast-neural-style layout (opset 9, input `input1` and
  output `output1`, both 1x3x224x224 float RGB 0..255, weights listed among the inputs as
  PyTorch 0.4 exported them): reflection pad, a 3x3 stride-2 convolution, nearest upsampling.
  It computes `zoo_expected`: SEPIA applied to the top-left pixel of each 2x2 block.
- `zoo_style(reshape=True)`: the same with a Reshape to the fixed shape at the end, so it runs
  at 224x224 only (served by resizing frames).
- `magenta_pair`: Magenta's arbitrary stylization as converted from TensorFlow (NHWC, 0..1):
  a predictor from a style image to a 100-d bottleneck (the image's mean colour in its first
  three values) and a transfer network taking a content image and the bottleneck, ending in a
  Sigmoid. It computes `magenta_expected`: the content halfway to the style's mean colour.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEPIA = np.array(
    [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32
)
SEPIA_BIAS = np.array([4.0, -2.0, 1.0], dtype=np.float32)
STYLE_DIMS = 100


def _model(graph, opset: int) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset <= 12 else 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def zoo_style(reshape: bool = False) -> bytes:
    kernel = np.zeros((3, 3, 3, 3), dtype=np.float32)
    kernel[:, :, 1, 1] = SEPIA  # the centre tap: at stride 2 it reads pixel (2i, 2j)
    inits = [
        numpy_helper.from_array(kernel, "conv1.weight"),
        numpy_helper.from_array(SEPIA_BIAS, "conv1.bias"),
        numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "up.scales"),
    ]
    out = "output1" if not reshape else "up"
    nodes = [
        helper.make_node("Pad", ["input1"], ["pad"], mode="reflect", pads=[0, 0, 1, 1, 0, 0, 1, 1]),
        helper.make_node(
            "Conv",
            ["pad", "conv1.weight", "conv1.bias"],
            ["conv"],
            kernel_shape=[3, 3],
            strides=[2, 2],
        ),
        helper.make_node("Upsample", ["conv", "up.scales"], [out], mode="nearest"),
    ]
    if reshape:
        inits.append(numpy_helper.from_array(np.array([1, 3, 224, 224], dtype=np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["up", "shape"], ["output1"]))
    image = [1, 3, 224, 224]
    graph = helper.make_graph(
        nodes,
        "torch-jit-export",
        [helper.make_tensor_value_info("input1", TensorProto.FLOAT, image)]
        + [helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in inits],
        [helper.make_tensor_value_info("output1", TensorProto.FLOAT, image)],
        initializer=inits,
        value_info=[helper.make_tensor_value_info("conv", TensorProto.FLOAT, [1, 3, 112, 112])],
    )
    return _model(graph, 9)


def zoo_expected(rgb: np.ndarray) -> np.ndarray:
    """What zoo_style computes on an (H, W, 3) image (H, W even), 0..255 float, unclamped."""
    top_left = rgb[::2, ::2].astype(np.float32).repeat(2, 0).repeat(2, 1)
    return top_left @ SEPIA.T + SEPIA_BIAS


def magenta_pair(seed: int = 0) -> tuple[bytes, bytes]:
    """(predictor, transfer network) bytes."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, (3, STYLE_DIMS)).astype(np.float32)
    w[:, :3] = np.eye(3)
    bottleneck = "mobilenet_conv/Conv/BiasAdd"
    predict = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["style_image"], ["mean"], axes=[1, 2], keepdims=1),
            helper.make_node("MatMul", ["mean", "w"], [bottleneck]),
        ],
        "style_predict",
        [helper.make_tensor_value_info("style_image", TensorProto.FLOAT, [1, "h", "w", 3])],
        [helper.make_tensor_value_info(bottleneck, TensorProto.FLOAT, [1, 1, 1, STYLE_DIMS])],
        initializer=[numpy_helper.from_array(w, "w")],
    )

    def const(name: str, value) -> onnx.NodeProto:
        return helper.make_node(
            "Constant", [], [name], value=numpy_helper.from_array(np.asarray(value), name)
        )

    out = "transformer/expand/conv3/conv/Sigmoid"
    transfer = helper.make_graph(
        [
            const("starts", np.array([0], dtype=np.int64)),
            const("ends", np.array([3], dtype=np.int64)),
            const("axes", np.array([3], dtype=np.int64)),
            const("half", np.array(0.5, dtype=np.float32)),
            const("one", np.array(1.0, dtype=np.float32)),
            const("lo", np.array(1e-4, dtype=np.float32)),
            const("hi", np.array(1 - 1e-4, dtype=np.float32)),
            helper.make_node("Slice", [bottleneck, "starts", "ends", "axes"], ["colour"]),
            helper.make_node("Add", ["content_image", "colour"], ["sum"]),
            helper.make_node("Mul", ["sum", "half"], ["p0"]),
            helper.make_node("Clip", ["p0", "lo", "hi"], ["p"]),
            helper.make_node("Sub", ["one", "p"], ["q"]),
            helper.make_node("Log", ["p"], ["log_p"]),
            helper.make_node("Log", ["q"], ["log_q"]),
            helper.make_node("Sub", ["log_p", "log_q"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], [out]),
        ],
        "transformer",
        [
            helper.make_tensor_value_info("content_image", TensorProto.FLOAT, [1, "h", "w", 3]),
            helper.make_tensor_value_info(bottleneck, TensorProto.FLOAT, [1, 1, 1, STYLE_DIMS]),
        ],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, "h", "w", 3])],
    )
    return _model(predict, 13), _model(transfer, 13)


def magenta_expected(rgb: np.ndarray, style_rgb: np.ndarray) -> np.ndarray:
    """What the pair computes on an (H, W, 3) image for a style image, 0..255 float."""
    mean = style_rgb.reshape(-1, 3).astype(np.float32).mean(0)
    return np.clip((rgb.astype(np.float32) + mean) / 2, 255e-4, 255 * (1 - 1e-4))
