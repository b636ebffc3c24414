"""onnxruntime: the module exported to ONNX (models.onnx_export: dynamic batch, height and width),
run by ONNX Runtime's CUDA provider with IO binding on torch's device pointers (no copies),
or by its CPU provider.

Export happens once per (style, precision), in memory, when the runner is built (style load).
fp16 exports the module converted to half; ORT's CPU provider lacks fp16 convolutions, so on
CPU only fp32 is offered.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..models.onnx_export import export_onnx
from .base import BackendUnavailable, Runner

log = logging.getLogger(__name__)

_NP_DTYPES = {torch.float32: np.float32, torch.float16: np.float16}


class OnnxRuntime(Runner):
    name = "onnxruntime"
    serial_build = True  # exports (ONNX) or compiles (torch.compile, CUDA graphs): one at a time
    precisions = ("fp32", "fp16")

    def __init__(
        self, model: torch.nn.Module, device: torch.device, precision: str = "fp32"
    ) -> None:
        super().__init__(model, device, precision)
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendUnavailable(
                "onnxruntime is not installed (pip install onnxruntime, "
                "or onnxruntime-gpu for CUDA)"
            ) from e
        cuda = self.device.type == "cuda"
        if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailable(
                f"onnxruntime {ort.__version__} has no CUDAExecutionProvider here "
                "(install onnxruntime-gpu built for this CUDA)"
            )
        if not cuda and self.dtype != torch.float32:
            raise BackendUnavailable("onnxruntime's CPU provider runs fp32 only")
        self._ort = ort
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if cuda:
            providers = [
                (
                    "CUDAExecutionProvider",
                    {
                        "device_id": self.device.index or 0,
                        "cudnn_conv_algo_search": "EXHAUSTIVE",
                        "do_copy_in_default_stream": True,
                    },
                ),
                "CPUExecutionProvider",
            ]
        else:
            providers = ["CPUExecutionProvider"]
        self.onnx_bytes = export_onnx(model, self.dtype)
        self.session = ort.InferenceSession(self.onnx_bytes, options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda":
            y = self.session.run([self.output_name], {self.input_name: x.contiguous().numpy()})[0]
            return torch.from_numpy(y)
        x = x.contiguous()
        y = torch.empty_like(x)  # our models keep the input's shape
        binding = self.session.io_binding()
        np_dtype = _NP_DTYPES[self.dtype]
        index = self.device.index or 0
        binding.bind_input(self.input_name, "cuda", index, np_dtype, tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, "cuda", index, np_dtype, tuple(y.shape), y.data_ptr())
        # ORT runs on its own stream: let torch's work on x finish first; Run returns after
        # ORT's stream is done, so y is ready for torch's next kernel.
        torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return y
