"""A teacher network for distillation: an image-to-image ONNX model whose outputs become the
generator's targets (`loss=distill`).

Why: without ImageNet weights offline, the perceptual loss runs on random-weight VGG features,
which get a style's average colours but not its brushwork. A network that already paints (for
example one that a registry package ships) shows the generator what each crop should become; the
generator is still our code and our weights, trained only on its outputs. The teacher's licence
goes into the model card.

The teacher runs in ONNX Runtime on the CPU, under no_grad: it is data, not part of the graph.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from .errors import ConfigError

PACKAGE_PREFIX = "package:"


def resolve_model_path(spec: str, key: str = "teacher.model") -> Path:
    """A file path, or `package:<module>/<path inside it>` for a file an installed Python
    package ships (found without importing the package). `key`: the config key it came from,
    for errors."""
    if not spec.startswith(PACKAGE_PREFIX):
        path = Path(spec)
    else:
        module, _, inner = spec[len(PACKAGE_PREFIX) :].partition("/")
        found = importlib.util.find_spec(module) if module else None
        if found is None or not found.submodule_search_locations:
            raise ConfigError(
                key,
                f"{spec!r}: Python package {module!r} is not installed "
                f"(pip install {module.replace('_', '-')})",
            )
        path = Path(list(found.submodule_search_locations)[0]) / inner
    if not path.is_file():
        raise ConfigError(key, f"teacher model file {str(path)!r} does not exist")
    return path


class OnnxTeacher:
    """Runs an ONNX image model on batches in the generator's layout.

    `input_scale`: what the model's input range is relative to 0..255 (1/255 for a 0..1 model);
    its output is divided by the same factor. `style_input`/`style`/`style_count`: a one-hot
    style-weight input for multi-style networks (None when the model has one style)."""

    def __init__(
        self,
        model: str,
        licence: str,
        image_input: str = "x",
        input_scale: float = 1.0,
        style_input: str | None = None,
        style: int | None = None,
        style_count: int = 0,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError(
                "teacher.model", "a teacher needs onnxruntime (pip install onnxruntime)"
            ) from None
        self.path = resolve_model_path(model)
        self.licence = licence
        self.image_input, self.input_scale = image_input, float(input_scale)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in self.session.get_inputs()]
        if image_input not in names:
            raise ConfigError(
                "teacher.image_input",
                f"{image_input!r} is not an input of {self.path.name}; its inputs: {names}",
            )
        self.extra: dict[str, np.ndarray] = {}
        if style_input is not None:
            if style_input not in names:
                raise ConfigError(
                    "teacher.style_input",
                    f"{style_input!r} is not an input of {self.path.name}; its inputs: {names}",
                )
            if style is None or not 0 <= int(style) < int(style_count):
                raise ConfigError(
                    "teacher.style", f"{style!r}: expected a style index 0..{int(style_count) - 1}"
                )
            weights = np.zeros(int(style_count), np.float32)
            weights[int(style)] = 1.0
            self.extra[style_input] = weights
        self.description = f"{self.path.name}" + (f" style {style}" if style_input else "")

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0..255 -> the teacher's (N, 3, H, W) RGB 0..255, one image at a time
        (models exported for batch 1 are common)."""
        outs = []
        for img in x.detach().cpu().float().numpy():
            feed = {self.image_input: img[None] * self.input_scale, **self.extra}
            outs.append(self.session.run(None, feed)[0][0] / self.input_scale)
        return torch.from_numpy(np.stack(outs)).clamp_(0, 255).to(x.device)


class ArbitraryTeacher:
    """An arbitrary-style teacher pair (Magenta's arbitrary image stylization as ONNX): a
    style-prediction network (an NHWC 0..1 style image -> a style vector) and a transfer network
    (an NHWC 0..1 content image and the vector -> the stylized image, 0..1). Both may be fixed
    to one input size (`style_size`, `content_size`): the caller feeds images of those sizes."""

    def __init__(
        self,
        predict: str,
        transfer: str,
        licence: str,
        style_size: int = 256,
        content_size: int = 384,
        threads: int | None = None,
    ) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError(
                "teacher.predict", "a teacher needs onnxruntime (pip install onnxruntime)"
            ) from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        self.paths = {
            k: resolve_model_path(v, f"teacher.{k}")
            for k, v in (("predict", predict), ("transfer", transfer))
        }
        self.predictor, self.transfer = (
            ort.InferenceSession(str(self.paths[k]), options, providers=["CPUExecutionProvider"])
            for k in ("predict", "transfer")
        )
        self.style_size, self.content_size = int(style_size), int(content_size)
        self.licence = licence
        self.description = f"{self.paths['predict'].name} + {self.paths['transfer'].name}"

    @torch.no_grad()
    def vectors(self, styles: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) RGB 0..255 style images -> (N, D) style vectors (resized to the
        predictor's `style_size` when S differs)."""
        name = self.predictor.get_inputs()[0].name
        if styles.shape[-1] != self.style_size or styles.shape[-2] != self.style_size:
            styles = torch.nn.functional.interpolate(
                styles.float(), size=(self.style_size,) * 2, mode="bilinear", antialias=True
            )
        out = [
            self.predictor.run(None, {name: img.transpose(1, 2, 0)[None] / 255.0})[0].reshape(-1)
            for img in styles.detach().cpu().float().numpy()
        ]
        return torch.from_numpy(np.stack(out)).float()

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0..255 contents and (N, D) vectors -> (N, 3, H, W) RGB 0..255."""
        names = [i.name for i in self.transfer.get_inputs()]
        outs = []
        for img, v in zip(x.detach().cpu().float().numpy(), vectors.cpu().numpy(), strict=True):
            feed = {
                names[0]: img.transpose(1, 2, 0)[None] / 255.0,
                names[1]: v.reshape(1, 1, 1, -1).astype(np.float32),
            }
            outs.append(self.transfer.run(None, feed)[0][0].transpose(2, 0, 1) * 255.0)
        return torch.from_numpy(np.stack(outs)).clamp_(0, 255)
