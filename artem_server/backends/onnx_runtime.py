"""onnxruntime: a style's net as an ONNX graph run by ONNX Runtime: its CUDA provider with IO
binding on torch's device pointers (no copies), or its CPU provider.

Three sources of graphs. The graph an entry ships beside its weights (its model.onnx, asked of
the style's kind: `Kind.shipped_graph`), in fp32, when it was exported from those weights: no
export at all, which is what lets ONNX Runtime be the CPU default. Otherwise a torch module is
exported (models.onnx_export: dynamic batch, height and width) once per (style, precision), in
memory, when the runner is built (style load); fp16 exports the module converted to half, and
as ORT's CPU provider lacks fp16 convolutions, on CPU only fp32 is offered. An imported ONNX
file (models.onnx_net.OnnxNet) is run as it is, in the fp32 it is stored in, with its own
conversions to the graph's layout and range.
"""

from __future__ import annotations

import torch

from ..kinds import kind_of_module
from ..models.onnx_export import export_onnx
from ..models.onnx_net import OnnxNet, OnnxRuntimeMissing, make_session, run_bound, run_host
from ..models.onnx_shipped import is_current
from .base import BackendUnavailable, Runner


class OnnxRuntime(Runner):
    name = "onnxruntime"
    serial_build = True  # exports (ONNX) or compiles (torch.compile, CUDA graphs): one at a time
    precisions = ("fp32", "fp16")

    def __init__(
        self, model: torch.nn.Module | OnnxNet, device: torch.device, precision: str = "fp32"
    ) -> None:
        super().__init__(model, device, precision)
        cuda = self.device.type == "cuda"
        if not cuda and self.dtype != torch.float32:
            raise BackendUnavailable("onnxruntime's CPU provider runs fp32 only")
        self.net = model if isinstance(model, OnnxNet) else None
        if self.net is not None and self.dtype != torch.float32:
            raise BackendUnavailable(
                f"an imported ONNX graph runs in the precision it is stored in (fp32), not "
                f"{precision}"
            )
        # the graph's inputs besides the frame (a shipped adain graph's style), batch 1
        self.extra: dict[str, torch.Tensor] = {}
        self.shipped = False
        try:
            if self.net is not None:  # one session per graph and device, shared by its styles
                self.session = self.net.graph.session(self.device)
            else:
                self.session = self._shipped_session(model) or make_session(
                    export_onnx(model, self.dtype), self.device
                )
        except OnnxRuntimeMissing as e:
            raise BackendUnavailable(str(e)) from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def _shipped_session(self, model: torch.nn.Module):
        """The session of the graph the model's entry ships, when it is current; else None."""
        kind = kind_of_module(model)
        shipped = kind.shipped_graph(model) if kind is not None else None
        if shipped is None or self.dtype != torch.float32:
            return None
        session = shipped.graph.session(self.device)
        if not is_current(shipped, session):
            return None
        self.extra = {k: v.to(self.device, torch.float32) for k, v in shipped.feeds.items()}
        self.shipped = True
        return session

    def _feeds(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feeds = {self.input_name: x}
        for name, v in self.extra.items():  # per-image inputs tiled to the frame's batch
            feeds[name] = v.expand(x.shape[0], *v.shape[1:]) if v.dim() else v
        return feeds

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.net is not None:
            return self.net.run(self.session, x)
        if self.device.type != "cuda":
            return run_host(self.session, self._feeds(x), self.output_name)
        # our exported models keep the input's shape
        return run_bound(self.session, self.device, self._feeds(x), self.output_name, x.shape)

    def describe(self) -> str:
        return super().describe() + (" (shipped graph)" if self.shipped else "")
