"""What an ONNX style network expects, read from its graph: which input is the image and which
(if any) the style vector, the image's layout (NCHW/NHWC), channel order (RGB/BGR), value
range (0..255, 0..1, -1..1) and size (fixed or any), and which output is the image.

Where the graph says it, it is believed: shapes give the layout and the size, ONNX's image
metadata (`Image.BitmapPixelFormat`, `Image.NominalPixelRange`) the order and range, and the
output's last bounded operation (Sigmoid: 0..1, Tanh: -1..1, Clip, then any scaling by
constants) the output's range. Where it does not, the convention of the fast-neural-style
family is assumed (RGB, 0..255), and the user overrides with the importer's flags.
`sources` says which of these each field came from.

ONNX files are data: parsing one runs no Python of the file's.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

LAYOUTS = ("nchw", "nhwc")
CHANNELS = ("rgb", "bgr")
RANGES: dict[str, tuple[float, float]] = {
    "0..255": (0.0, 255.0),
    "0..1": (0.0, 1.0),
    "-1..1": (-1.0, 1.0),
}

_FLOAT = 1  # onnx.TensorProto.FLOAT
# ONNX's metadata for image models (onnx/docs/MetadataProps.md)
_PIXEL_FORMATS = {"rgb8": "rgb", "bgr8": "bgr", "rgba8": "rgb", "bgra8": "bgr"}
_NOMINAL_RANGES = {
    "nominalrange_0_255": "0..255",
    "normalized_0_1": "0..1",
    "normalized_1_1": "-1..1",
}
# ops whose output keeps the value range of their first input
_RANGE_KEEPING = {
    "Identity", "Transpose", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Cast",
    "Resize", "Upsample", "Pad", "Crop", "Concat", "MaxPool", "AveragePool", "DepthToSpace",
    "SpaceToDepth",
}  # fmt: skip


class OnnxGraphError(ValueError):
    """An ONNX file that is not a style network this server can run; the message says what was
    found and what was expected (and which import flag to set, where one helps)."""


def onnx_module():
    try:
        import onnx
    except ImportError as e:
        raise OnnxGraphError(
            "reading ONNX files needs the onnx package: pip install 'artem[onnx]'"
        ) from e
    return onnx


def load_graph(data: bytes, what: str = "the file"):
    """The parsed ModelProto of ONNX `data`; refuses junk and graphs with external weights."""
    onnx = onnx_module()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise OnnxGraphError(f"{what} is not an ONNX model ({e.__class__.__name__})") from None
    if not model.graph.node:
        raise OnnxGraphError(f"{what} is not an ONNX model: its graph has no operations")
    for t in model.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise OnnxGraphError(
                f"{what} keeps its weights in external files ({t.name}): save the model with "
                "all tensors inside (onnx.save_model(..., save_as_external_data=False))"
            )
    return model


def digest(data: bytes) -> str:
    """A short hash of an ONNX file: a pair's style vectors name the predictor they came from."""
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True)
class Tensor:
    """A graph input or output: name, element type, and dims (an int, or None when symbolic)."""

    name: str
    elem_type: int
    dims: tuple[int | None, ...]

    def shown(self) -> str:
        return f"{self.name} {list(d if d is not None else '?' for d in self.dims)}"

    def image_layout(self) -> str | None:
        """ "nchw" or "nhwc" when this could be a 3-channel image, else None."""
        if len(self.dims) != 4:
            return None
        first, last = self.dims[1] == 3, self.dims[3] == 3
        spatial = {"nchw": self.dims[2:], "nhwc": self.dims[1:3]}
        for layout, is3 in (("nchw", first), ("nhwc", last)):
            if is3 and not (spatial[layout][0] == 1 and spatial[layout][1] == 1):
                if first and last and layout == "nchw":
                    return "ambiguous"
                return layout
        return None


def _tensor(vi) -> Tensor:
    t = vi.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return Tensor(vi.name, t.elem_type, dims)


def graph_inputs(model) -> list[Tensor]:
    """The inputs a caller feeds: older exporters list the weights among the inputs too."""
    weights = {t.name for t in model.graph.initializer}
    return [_tensor(vi) for vi in model.graph.input if vi.name not in weights]


def graph_outputs(model) -> list[Tensor]:
    return [_tensor(vi) for vi in model.graph.output]


_TUPLES = ("size", "style_shape", "output_shape")


@dataclass(frozen=True)
class ImageSpec:
    """How to feed one style network and read its result: the card's `architecture` for the
    kind `onnx` (with the entry's role beside it)."""

    input: str
    output: str
    layout: str = "nchw"
    channels: str = "rgb"
    range: str = "0..255"  # of the input image
    output_range: str = "0..255"
    size: tuple[int, int] | None = None  # the graph's fixed (H, W); None: any size
    batch: int | None = None  # the graph's fixed batch; None: any
    resize: bool = False  # fixed size served by resizing frames to it (else at the frame's size)
    size_multiple: int = 1  # what H and W must be multiples of when served at the frame's size
    style_input: str | None = None  # a transfer network's style vector input
    style_shape: tuple[int, ...] | None = None  # its shape, batch included
    output_shape: tuple[int, ...] | None = None  # a predictor's vector output (None: an image)
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("layout", self.layout, LAYOUTS),
            ("channels", self.channels, CHANNELS),
            ("range", self.range, tuple(RANGES)),
            ("output_range", self.output_range, tuple(RANGES)),
        ):
            if value not in allowed:
                raise OnnxGraphError(f"{name} {value!r}: expected one of {', '.join(allowed)}")

    @property
    def style_dims(self) -> int:
        n = 1
        for d in (self.style_shape or (1,))[1:]:
            n *= d
        return n

    def graph_size(self, h: int, w: int) -> tuple[int, int]:
        """The (H, W) the graph runs at for a model input of h x w."""
        return self.size if self.resize and self.size else (h, w)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("sources")
        for k in _TUPLES:
            d[k] = list(d[k]) if d[k] is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageSpec:
        known = set(cls.__dataclass_fields__) - {"sources"}
        try:
            kw = {k: d[k] for k in known if k in d}
            for k in _TUPLES:
                if kw.get(k) is not None:
                    kw[k] = tuple(int(v) for v in kw[k])
            return cls(**kw)
        except (KeyError, TypeError, ValueError) as e:
            raise OnnxGraphError(f"onnx card: architecture {d} is not an image spec ({e})") from e


def _constants(model) -> dict[str, Any]:
    """name -> numpy value of the graph's initializers and Constant nodes."""
    onnx = onnx_module()
    from onnx import numpy_helper

    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(a.t)
                elif a.name in ("value_float", "value_int"):
                    values[node.output[0]] = onnx.helper.get_attribute_value(a)
    return values


def _scalar(values: dict[str, Any], name: str) -> float | None:
    import numpy as np

    v = values.get(name)
    if v is None:
        return None
    a = np.asarray(v, dtype=np.float64)
    return float(a.reshape(-1)[0]) if a.size == 1 else None


def output_interval(model, output: str) -> tuple[float, float] | None:
    """The values `output` can take, from the last bounded operation before it (Sigmoid, Tanh,
    Clip, Softmax) and the scalings by constants after it; None when nothing bounds it."""
    onnx = onnx_module()
    producers = {o: n for n in model.graph.node for o in n.output}
    values = _constants(model)

    def interval(name: str, depth: int = 0) -> tuple[float, float] | None:
        node = producers.get(name)
        if node is None or depth > 64:
            return None
        op = node.op_type
        if op == "Sigmoid" or op == "Softmax":
            return (0.0, 1.0)
        if op == "Tanh":
            return (-1.0, 1.0)
        if op == "Clip":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            lo = attrs.get("min", _scalar(values, node.input[1]) if len(node.input) > 1 else None)
            hi = attrs.get("max", _scalar(values, node.input[2]) if len(node.input) > 2 else None)
            return (float(lo), float(hi)) if lo is not None and hi is not None else None
        if op in _RANGE_KEEPING:
            return interval(node.input[0], depth + 1)
        if op in ("Mul", "Div", "Add", "Sub") and len(node.input) == 2:
            a, b = node.input
            ca, cb = _scalar(values, a), _scalar(values, b)
            if (ca is None) == (cb is None):
                return None
            inner = interval(b if ca is not None else a, depth + 1)
            if inner is None:
                return None
            c = ca if ca is not None else cb
            lo, hi = inner
            if op == "Mul":
                ends = (lo * c, hi * c)
            elif op == "Add":
                ends = (lo + c, hi + c)
            elif op == "Sub":
                ends = (lo - c, hi - c) if cb is not None else (c - hi, c - lo)
            elif cb is not None and c != 0:  # x / c
                ends = (lo / c, hi / c)
            else:
                return None
            return (min(ends), max(ends))
        return None

    return interval(output)


def nearest_range(interval: tuple[float, float]) -> str | None:
    """The named range `interval` is (within a tenth of that range's span), if any: a Johnson
    net's tanh * 150 + 127.5 is 0..255 with some headroom."""
    lo, hi = interval
    for name, (a, b) in RANGES.items():
        tol = (b - a) / 10
        if abs(lo - a) <= tol and abs(hi - b) <= tol:
            return name
    return None


@dataclass(frozen=True)
class GraphRoles:
    """What each of a file's inputs and outputs is."""

    image_in: Tensor | None
    vector_in: list[Tensor]
    image_out: Tensor | None
    vector_out: list[Tensor]

    @property
    def kind(self) -> str:
        """ "image" (one image in, an image out), "transfer" (image and style vector in, image
        out), "predict" (an image in, a vector out: a style-prediction network) or "other"."""
        if self.image_in is None:
            return "other"
        if self.image_out is not None and not self.vector_in:
            return "image"
        if self.image_out is not None and len(self.vector_in) == 1:
            return "transfer"
        if self.image_out is None and self.vector_out and not self.vector_in:
            return "predict"
        return "other"


def roles(model, what: str = "the file") -> GraphRoles:
    """Sort a graph's float inputs and outputs into images and vectors; refuses what no role
    fits, naming what it found."""
    ins, outs = graph_inputs(model), graph_outputs(model)
    for t in ins:
        if t.elem_type != _FLOAT:
            raise OnnxGraphError(
                f"{what}: input {t.shown()} is not float32: expected float32 image (and style "
                "vector) inputs"
            )
    images = [t for t in ins if t.image_layout() is not None]
    if len(images) != 1:
        found = ", ".join(t.shown() for t in ins) or "none"
        raise OnnxGraphError(
            f"{what}: expected one image input (rank 4, 3 channels), found inputs {found}"
        )
    out_images = [t for t in outs if t.image_layout() is not None]
    return GraphRoles(
        images[0],
        [t for t in ins if t is not images[0]],
        out_images[0] if out_images else None,
        [t for t in outs if t.image_layout() is None],
    )


def _layout(model, image: Tensor) -> tuple[str, str]:
    """(layout, source): from the shape, else from the first operation on the input (tf2onnx's
    NHWC graphs begin with Transpose [0, 3, 1, 2])."""
    layout = image.image_layout()
    if layout in LAYOUTS:
        return layout, "graph shape"
    onnx = onnx_module()
    for node in model.graph.node:
        if image.name in node.input and node.op_type == "Transpose":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if list(attrs.get("perm", [])) == [0, 3, 1, 2]:
                return "nhwc", "graph (a Transpose to NCHW first)"
    return "nchw", "default (the shape allows both)"


def _metadata(model) -> dict[str, str]:
    return {p.key.lower(): p.value for p in model.metadata_props}


def inspect_image_graph(model, what: str = "the file") -> tuple[ImageSpec, GraphRoles]:
    """The ImageSpec the graph implies (before flags and the run-once checks)."""
    r = roles(model, what)
    image = r.image_in
    layout, layout_src = _layout(model, image)
    sources = {"layout": layout_src}
    meta = _metadata(model)
    channels = _PIXEL_FORMATS.get(meta.get("image.bitmappixelformat", "").lower())
    sources["channels"] = "graph metadata" if channels else "default"
    rng = _NOMINAL_RANGES.get(meta.get("image.nominalpixelrange", "").lower())
    out_rng = None
    if r.image_out is not None:
        interval = output_interval(model, r.image_out.name)
        out_rng = nearest_range(interval) if interval else None
    if rng:
        sources["range"] = "graph metadata"
    elif out_rng:
        rng, sources["range"] = out_rng, "the output's range (the graph's last activation)"
    else:
        rng, sources["range"] = "0..255", "default"
    sources["output_range"] = (
        "the graph's last activation"
        if out_rng
        else sources["range"].replace("default", "the input's")
    )
    h, w = image.dims[2:] if layout == "nchw" else image.dims[1:3]
    size = (h, w) if h and w else None
    sources["size"] = "graph shape"
    spec = ImageSpec(
        input=image.name,
        output=r.image_out.name if r.image_out is not None else "",
        layout=layout,
        channels=channels or "rgb",
        range=rng,
        output_range=out_rng or rng,
        size=size,
        batch=image.dims[0],
        resize=False,
        style_input=r.vector_in[0].name if len(r.vector_in) == 1 else None,
        style_shape=_vector_shape(r.vector_in[0]) if len(r.vector_in) == 1 else None,
        sources=sources,
    )
    return spec, r


def _vector_shape(t: Tensor) -> tuple[int, ...]:
    """A style vector's shape with batch 1; its other dims must be fixed."""
    if any(d is None for d in t.dims[1:]) or not t.dims:
        raise OnnxGraphError(f"style vector input {t.shown()}: expected fixed dims after the batch")
    return (1, *t.dims[1:])  # type: ignore[arg-type]


def vector_dims(t: Tensor) -> int:
    n = 1
    for d in t.dims[1:]:
        if d is None:
            raise OnnxGraphError(f"{t.shown()}: expected fixed dims after the batch")
        n *= d
    return n


def with_flags(spec: ImageSpec, **flags: str | bool | None) -> ImageSpec:
    """`spec` with the user's overrides (None: not given); `sources` says "flag" for them."""
    given = {k: v for k, v in flags.items() if v is not None}
    if "range" in given and "output_range" not in given:
        given["output_range"] = given["range"]
    sources = {**spec.sources, **{k: "flag" for k in given}}
    return replace(spec, **given, sources=sources)


def check_layout(image: Tensor, layout: str) -> None:
    """Refuse a layout (a flag's) that puts the channels on a dim of the input that is not 3."""
    dim = image.dims[1] if layout == "nchw" else image.dims[3]
    if dim not in (3, None):
        raise OnnxGraphError(
            f"layout {layout}: input {image.shown()} has {dim} where {layout.upper()} has the "
            "3 channels"
        )


def free_dims(model, spec: ImageSpec) -> bytes:
    """The graph with its image input's and output's batch, height and width made symbolic, and
    the intermediate shapes the exporter recorded dropped: a fully convolutional net exported
    at one size (the ONNX Model Zoo's fast-neural-style files: 1x3x224x224) then runs at any.
    Whether it really does is for the caller to check by running it."""
    onnx = onnx_module()
    freed = onnx.ModelProto()
    freed.CopyFrom(model)
    axes = (0, 2, 3) if spec.layout == "nchw" else (0, 1, 2)
    for vi in list(freed.graph.input) + list(freed.graph.output):
        if vi.name not in (spec.input, spec.output):
            continue
        dims = vi.type.tensor_type.shape.dim
        for axis, name in zip(axes, ("batch", "height", "width")):
            dims[axis].Clear()
            dims[axis].dim_param = name
    if spec.style_input:
        for vi in freed.graph.input:
            if vi.name == spec.style_input:
                vi.type.tensor_type.shape.dim[0].Clear()
                vi.type.tensor_type.shape.dim[0].dim_param = "batch"
    del freed.graph.value_info[:]
    return freed.SerializeToString()
