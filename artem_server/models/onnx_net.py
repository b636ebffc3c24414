"""An imported ONNX style network as the server runs models: (N, 3, H, W) float RGB 0..255 sRGB
in, the same shape out, about 0..255. The conversion to and from what the graph wants (layout,
channel order, value range, a fixed size) happens here, on the tensors' device, so the frame
pipeline stays the same for every kind.

ONNX Runtime runs the graph: its CPU provider on a CPU; on CUDA its CUDA provider, with the
inputs and output bound to torch's device memory (IO binding: no copies through the host).
Sessions are made once per (graph, device) and shared by every style of a graph: a pair's
styles differ only in their style vector.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .onnx_graph import RANGES, ImageSpec


class OnnxRuntimeMissing(RuntimeError):
    """onnxruntime (or its CUDA provider) is not installed here."""


def make_session(data: bytes, device: torch.device, quiet: bool = False):
    """An ONNX Runtime session for `data` on `device`: CUDA provider (with the CPU provider for
    what CUDA lacks) on a CUDA device, else the CPU provider. `quiet`: no error log of its own
    (probes that expect some runs to fail say what they found themselves)."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise OnnxRuntimeMissing(
            "onnxruntime is not installed (pip install onnxruntime, or onnxruntime-gpu for CUDA)"
        ) from e
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise OnnxRuntimeMissing(
            f"onnxruntime {ort.__version__} has no CUDAExecutionProvider here "
            "(install onnxruntime-gpu built for this CUDA)"
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 4 if quiet else 3
    if cuda:
        providers: list[Any] = [
            (
                "CUDAExecutionProvider",
                {
                    "device_id": device.index or 0,
                    "cudnn_conv_algo_search": "EXHAUSTIVE",
                    "do_copy_in_default_stream": True,
                },
            ),
            "CPUExecutionProvider",
        ]
    else:
        providers = ["CPUExecutionProvider"]
        # Its threads would otherwise spin for a while after each run, taking the cores from
        # the torch ops around it (the frame's conversions) and from other processes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(data, options, providers=providers)


_NP_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


def run_bound(
    session, device: torch.device, feeds: dict[str, torch.Tensor], output: str, shape: tuple
) -> torch.Tensor:
    """Run `session` on CUDA tensors with IO binding: ONNX Runtime reads `feeds` and writes the
    `output` of `shape` (allocated here with torch) in device memory; nothing passes the host."""
    x0 = next(iter(feeds.values()))
    y = torch.empty(shape, dtype=x0.dtype, device=device)
    binding = session.io_binding()
    index = device.index or 0
    for name, t in feeds.items():
        t = t.contiguous()
        feeds[name] = t  # kept alive until the run ends
        binding.bind_input(name, "cuda", index, _NP_DTYPES[t.dtype], tuple(t.shape), t.data_ptr())
    binding.bind_output(output, "cuda", index, _NP_DTYPES[y.dtype], tuple(y.shape), y.data_ptr())
    # ORT runs on its own stream: let torch's work on the inputs finish first; Run returns
    # after ORT's stream is done, so y is ready for torch's next kernel.
    torch.cuda.current_stream(device).synchronize()
    session.run_with_iobinding(binding)
    binding.synchronize_outputs()
    return y


def run_host(session, feeds: dict[str, torch.Tensor], output: str) -> torch.Tensor:
    """Run `session` on CPU tensors (the CPU provider reads numpy views of them)."""
    arrays = {k: v.detach().contiguous().numpy() for k, v in feeds.items()}
    return torch.from_numpy(session.run([output], arrays)[0])


class OnnxGraph:
    """One ONNX file's bytes and its sessions, made on first use per device."""

    def __init__(self, data: bytes, source: str = "an ONNX graph") -> None:
        self.data = data
        self.source = source  # what log lines call it: its file
        self._sessions: dict[torch.device, Any] = {}
        self._lock = threading.Lock()

    def session(self, device: torch.device):
        device = torch.device(device)
        with self._lock:
            s = self._sessions.get(device)
            if s is None:
                s = self._sessions[device] = make_session(self.data, device)
            return s


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def _scale(lo: float, hi: float) -> tuple[float, float]:
    """(a, b) with graph value = a * (0..255 value) + b."""
    return (hi - lo) / 255.0, lo


class OnnxNet:
    """A graph with its ImageSpec (and, for a pair's transfer network, one style vector), run
    like a model. Callable on CPU tensors (thumbnails, the import check); the onnxruntime
    backend runs it on the server's device through `run`."""

    dtype = torch.float32

    def __init__(
        self, graph: OnnxGraph, spec: ImageSpec, style: torch.Tensor | None = None
    ) -> None:
        if (spec.style_input is None) != (style is None):
            raise ValueError(
                f"graph input {spec.style_input!r} needs a style vector"
                if style is None
                else "a style vector was given for a graph without a style input"
            )
        if style is not None and style.numel() != spec.style_dims:
            raise ValueError(
                f"style vector of {style.numel()} values: the graph's {spec.style_input} takes "
                f"{spec.style_dims}"
            )
        self.graph = graph
        self.spec = spec
        self.style = None if style is None else style.detach().float().reshape(-1).cpu()
        self.size_multiple = 1 if spec.resize else spec.size_multiple
        self._style_on: dict[torch.device, torch.Tensor] = {}

    def with_style(self, style: torch.Tensor) -> OnnxNet:
        """This graph (its sessions shared) with another style vector."""
        return OnnxNet(self.graph, self.spec, style)

    # -- conversions between the server's tensors and the graph's ------------------------
    def to_graph(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0..255 -> the graph's image input."""
        s = self.spec
        if s.resize and s.size:
            x = _resize(x, s.size)
        if s.channels == "bgr":
            x = x.flip(1)
        a, b = _scale(*RANGES[s.range])
        if (a, b) != (1.0, 0.0):
            x = x * a + b
        if s.layout == "nhwc":
            x = x.permute(0, 2, 3, 1)
        return x.contiguous()

    def from_graph(self, y: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The graph's image output -> (N, 3, H, W) RGB about 0..255 at `size`."""
        s = self.spec
        if s.layout == "nhwc":
            y = y.permute(0, 3, 1, 2)
        a, b = _scale(*RANGES[s.output_range])
        if (a, b) != (1.0, 0.0):
            y = (y - b) / a
        if s.channels == "bgr":
            y = y.flip(1)
        return _resize(y, size) if s.resize else y

    def output_shape(self, graph_input: torch.Tensor) -> tuple[int, ...]:
        """The output's shape for a graph input: an image network's is the input's (its import
        checked it); a predictor's is its style vector's."""
        if self.spec.output_shape is not None:
            return (graph_input.shape[0], *self.spec.output_shape[1:])
        return tuple(graph_input.shape)

    def feeds(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The graph's inputs for model input `x`."""
        g = self.to_graph(x)
        feeds = {self.spec.input: g}
        if self.style is not None:
            v = self._style_on.get(g.device)
            if v is None:
                v = self._style_on[g.device] = self.style.to(g.device).reshape(
                    self.spec.style_shape
                )
            feeds[self.spec.style_input] = v.expand(g.shape[0], *v.shape[1:])
        return feeds

    def raw(self, session, x: torch.Tensor) -> torch.Tensor:
        """The graph's output for model input `x` (on the session's device), as the graph gives
        it; a graph of fixed batch takes the views one at a time."""
        fixed = self.spec.batch
        if fixed is not None and x.shape[0] != fixed:
            if fixed != 1:
                raise ValueError(f"the graph takes batches of {fixed}: got {x.shape[0]}")
            return torch.cat([self.raw(session, x[i : i + 1]) for i in range(x.shape[0])])
        feeds = self.feeds(x.float())
        if x.device.type == "cuda":
            shape = self.output_shape(feeds[self.spec.input])
            return run_bound(session, x.device, feeds, self.spec.output, shape)
        return run_host(session, feeds, self.spec.output)

    def run(self, session, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0..255 -> the same, stylized by the graph through `session`."""
        return self.from_graph(self.raw(session, x), tuple(x.shape[-2:]))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(self.graph.session(x.device), x)
