"""torch optimized: reduced precision, channels-last, and on CUDA a CUDA graph per input shape,
optionally over `torch.compile`d code.

Modes (what each adds, in order):
  eager    precision + channels-last only (the only mode on CPU unless compile is asked for)
  graph    + one CUDA graph per (N, Hs, Ws): a frame is one graph launch, no Python per layer
  compile  + torch.compile(mode=max-autotune-no-cudagraphs, dynamic=False) under the graphs:
           Inductor fuses instance norm, ReLU, padding and the residual adds into few kernels
           (our graphs, not Inductor's cudagraph trees, so the input needs no extra copy logic)
  fused    the kinds with a fused form (`Kind.fused`: generator, adain, xnor): cuDNN convs
           with our fused kernels in between, under the graphs. Generator:
           artem_kernels.instnorm (norm, ReLU, residual, upsampling and the next conv's
           reflection padding in one pass; fused_generator.py). Adain: artem_kernels.adain
           (bias, ReLU, pool or upsampling and the next conv's padding in one pass, AdaIN's
           statistics swap in three launches; fused_adain.py). Anti-aliased nets (`antialias`)
           run their blur pools and bilinear upsampling as torch ops between the fused steps.

The default on CUDA is the style's kind's (`Kind.optimized_mode`): fused for generator styles
when CuPy can build the kernels, fused for the VGG net's adain styles always (without CuPy its
steps run as torch ops, still under the graphs), graph for the fast adain net's (no fused form),
and compile for modules no kind made; eager on CPU. At
Quest 2 stereo fused runs a generator in 10.9 ms on an H100 (compile: 16.6 ms on an H200)
and is ready in about a second, where compile tunes for a minute per shape: for adain's VGG
convs, times two warm sizes and every built-in style, the server was not serving after 100 s
(bench/NOTES-gpu.md).

Compilation and capture happen in `prepare` (at style load, for the server's warm sizes) and
are cached per shape; a new shape compiles on its first frame, once, with a log line.
Why: on an H100 eager fp16 channels-last is *slower* than eager fp32 (reflection padding and
instance norm run as slow separate kernels; bench/NOTES-gpu.md); fusion is
where the time is.
"""

from __future__ import annotations

import copy
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import torch

from ..kinds import Kind, all_kinds, kind_of_module
from .base import BackendUnavailable, Runner

log = logging.getLogger(__name__)

MODES = ("eager", "graph", "compile", "fused")
COMPILE_MODE = "max-autotune-no-cudagraphs"


def _fused_kernels_available() -> bool:
    try:
        from artem_kernels import instnorm
    except ImportError:
        return False
    return instnorm.available()


def default_mode(model: torch.nn.Module, cuda: bool) -> str:
    """The mode a runner gets when none is named (see the module's docstring)."""
    if not cuda:
        return "eager"
    kind = kind_of_module(model)
    return kind.optimized_mode(model, _fused_kernels_available()) if kind else "compile"


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    static_in: torch.Tensor
    static_out: torch.Tensor


class TorchOptimized(Runner):
    name = "torch-optimized"
    serial_build = True  # exports (ONNX) or compiles (torch.compile, CUDA graphs): one at a time
    precisions = ("fp16", "bf16", "fp32")

    def __init__(
        self,
        model: torch.nn.Module,
        device: torch.device,
        precision: str = "fp16",
        mode: str | None = None,
        compile_mode: str = COMPILE_MODE,
        max_shapes: int = 4,
    ) -> None:
        super().__init__(model, device, precision)
        cuda = self.device.type == "cuda"
        self.mode = mode or default_mode(model, cuda)
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.mode == "graph" and not cuda:
            raise BackendUnavailable("CUDA graphs need a CUDA device")
        self.channels_last = True
        self.max_shapes = max_shapes
        if cuda:
            torch.backends.cudnn.benchmark = True  # pick the fastest conv per shape, once
        net = copy.deepcopy(model).to(self.device, self.dtype).eval()
        self.module = net.to(memory_format=torch.channels_last)
        self.fn = self.module
        if self.mode == "fused":
            kind = kind_of_module(model)
            fused = kind.fused(self.module, cuda and _fused_kernels_available()) if kind else None
            if fused is None:
                has = [k.name for k in all_kinds() if type(k).fused is not Kind.fused]
                kinds = " and ".join([", ".join(has[:-1]), has[-1]] if len(has) > 1 else has)
                raise BackendUnavailable(
                    f"mode fused runs {kinds} styles (the kinds with a fused form); this is a "
                    f"{type(model).__name__}"
                )
            self.fn = fused
        if self.mode == "compile":
            self.fn = torch.compile(
                self.module,
                mode=compile_mode if cuda else "default",
                dynamic=False,
                fullgraph=False,
            )
        self._graphs: OrderedDict[tuple[int, ...], _Graph] = OrderedDict()

    def describe(self) -> str:
        return f"{self.name} {self.precision} {self.mode}"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda" or self.mode == "eager":
            return self.fn(x)
        key = tuple(x.shape)
        entry = self._graphs.get(key)
        if entry is None:
            entry = self._capture(key)
        else:
            self._graphs.move_to_end(key)
        entry.static_in.copy_(x)
        entry.graph.replay()
        return entry.static_out

    def _capture(self, shape: tuple[int, ...]) -> _Graph:
        """Warm up (compile, cuDNN tuning) on a side stream, then capture one forward pass."""
        started = time.perf_counter()
        static_in = self.example((shape[0], shape[2], shape[3]))
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.fn(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # CuPy's launches (fused mode) query pointers and devices while capturing: harmless,
        # but not allowed under the default "global" capture mode.
        with torch.cuda.graph(
            graph, capture_error_mode="relaxed" if self.mode == "fused" else "global"
        ):
            static_out = self.fn(static_in)
        entry = _Graph(graph, static_in, static_out)
        self._graphs[shape] = entry
        while len(self._graphs) > self.max_shapes:  # each graph keeps its activations' memory
            self._graphs.popitem(last=False)
        log.info(
            "%s: captured a CUDA graph for input %s in %.1f s",
            self.describe(),
            shape,
            time.perf_counter() - started,
        )
        return entry

    def graph_shapes(self) -> list[tuple[int, ...]]:
        return list(self._graphs)
