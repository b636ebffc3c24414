"""The adain kind's fast network (`network: cin` in the model card): arbitrary style transfer
at a small generator's cost per frame (Ghiasi et al. 2017, "Exploring the structure of a
real-time, arbitrary neural artistic stylization network").

Two parts. A small style predictor reads the style image once, when the style is added, and
gives a style vector (`style_dim` numbers). A generator of `generator_small`'s shape (the
per-style generator's layers, models/generator.py) has conditional instance norms: a linear map
of the style vector gives every norm's scale and shift. A style is thus stored as its vector;
what a frame runs is a plain generator whose norms carry that style's scale and shift
(`CINStylizer`), so a frame costs what a shipped generator style costs, whatever the style.

Where the VGG net (models/adain.py) swaps relu4_1 statistics and decodes them with a wide
decoder, this one learns its norms' parameters directly: it is trained by distillation from an
arbitrary-style teacher (training/kinds/adain.py), not from a loss network.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from .adain_style import luma
from .generator import Generator, GeneratorConfig
from .store import Cancelled

NETWORK = "cin"  # the card's architecture.network for this net ("vgg", or none: models/adain.py)
VECTOR_KEY = "style.vector"  # a style entry's one tensor


@dataclass(frozen=True)
class CINConfig:
    """The fast net's shape; stored in the model card so the registry can rebuild it."""

    width: int = 16  # the generator's (generator_small: 16 channels, 3 residual blocks)
    res_blocks: int = 3
    antialias: bool = True  # as the shipped generator styles (models/generator.py)
    style_dim: int = 100  # the style vector's length
    predictor_width: int = 32  # channels of the predictor's first conv (then 2x, 4x, 4x)
    predictor_size: int = 256  # the style image's side as the predictor sees it
    edge_width: int | None = None  # the generator's slimmer decoder (GeneratorConfig's)
    up_width: int | None = None

    def to_dict(self) -> dict:
        d = {
            "network": NETWORK,
            "width": self.width,
            "res_blocks": self.res_blocks,
            "antialias": self.antialias,
            "style_dim": self.style_dim,
            "predictor_width": self.predictor_width,
            "predictor_size": self.predictor_size,
        }
        d.update({k: v for k in ("edge_width", "up_width") if (v := getattr(self, k)) is not None})
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CINConfig:
        try:
            out = cls(
                width=int(d.get("width", 16)),
                res_blocks=int(d.get("res_blocks", 3)),
                antialias=bool(d.get("antialias", True)),
                style_dim=int(d.get("style_dim", 100)),
                predictor_width=int(d.get("predictor_width", 32)),
                predictor_size=int(d.get("predictor_size", 256)),
                edge_width=None if d.get("edge_width") is None else int(d["edge_width"]),
                up_width=None if d.get("up_width") is None else int(d["up_width"]),
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"adain cin card: architecture {d}: {e}") from None
        for key in ("width", "res_blocks", "style_dim", "predictor_width", "predictor_size"):
            if getattr(out, key) < 1:
                raise ValueError(f"adain cin card: architecture.{key} {getattr(out, key)} < 1")
        return out

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            self.width, self.res_blocks, self.antialias, self.edge_width, self.up_width
        )


class StylePredictor(nn.Module):
    """Style image (N, 3, S, S) RGB 0..255 -> (N, style_dim). Four stride-2 convs; the mean and
    standard deviation of each of the last three layers' channels (what a style's palette and
    texture are made of, as AdaIN's statistics are) go through a small MLP."""

    def __init__(self, width: int, style_dim: int) -> None:
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 4 * width]
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1) for i in range(len(chans) - 1)
        )
        pooled = 2 * sum(chans[2:])
        self.mlp = nn.Sequential(nn.Linear(pooled, 256), nn.ReLU(), nn.Linear(256, style_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x / 127.5 - 1
        stats = []
        for i, conv in enumerate(self.convs):
            y = F.relu(conv(y))
            if i >= 1:
                flat = y.flatten(2)
                stats += [flat.mean(-1), (flat.var(-1, unbiased=False) + 1e-5).sqrt()]
        return self.mlp(torch.cat(stats, 1))


class CondInstanceNorm(nn.Module):
    """Instance norm whose per-sample scale and shift are set before each forward pass
    (`set`): (N, C) each. No weights of its own: the style head computes them."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.scale: torch.Tensor | None = None
        self.shift: torch.Tensor | None = None

    def set(self, scale: torch.Tensor, shift: torch.Tensor) -> None:
        self.scale, self.shift = scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.scale is not None and self.shift is not None, "set() the style first"
        y = F.instance_norm(x, eps=1e-5)
        return y * self.scale[..., None, None] + self.shift[..., None, None]


def _norm_slots(gen: nn.Module) -> list[tuple[nn.Module, str, int]]:
    """(parent, attribute, channels) of every InstanceNorm2d of a generator, in layer order."""
    slots = []
    for name, m in gen.named_modules():
        if isinstance(m, nn.InstanceNorm2d | CondInstanceNorm):
            parent_name, _, attr = name.rpartition(".")
            parent = gen.get_submodule(parent_name) if parent_name else gen
            c = m.num_features if isinstance(m, nn.InstanceNorm2d) else m.channels
            slots.append((parent, attr, int(c)))
    return slots


class CINNet(nn.Module):
    """Style predictor + conditional-instance-norm generator + the head between them (a linear
    map from the style vector to every norm's scale and shift). Weights: `predictor.*`,
    `generator.*` (the generator's convs, pytorch/examples' keys), `head.*`."""

    def __init__(self, config: CINConfig = CINConfig()) -> None:
        super().__init__()
        self.config = config
        self.predictor = StylePredictor(config.predictor_width, config.style_dim)
        self.generator = Generator(config.generator_config())
        self.norms: list[CondInstanceNorm] = []
        for parent, attr, c in _norm_slots(self.generator):
            norm = CondInstanceNorm(c)
            setattr(parent, attr, norm)
            self.norms.append(norm)
        self.sizes = [n.channels for n in self.norms]
        self.head = nn.Linear(config.style_dim, 2 * sum(self.sizes))
        with torch.no_grad():  # start near identity norms: scale 1, shift 0, whatever the style
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()

    def start_from_generator(self, state: dict[str, torch.Tensor]) -> None:
        """Take a trained per-style generator of the same shape (its state dict): its convs
        become the shared convs and its instance norms' scale and shift the head's bias, so
        every style starts as that painting style and the head learns how styles differ (a
        style generator's convs already paint; learning them from scratch for every style at
        once is what a CPU budget cannot afford)."""
        plain = Generator(self.config.generator_config())
        names = [n for n, m in plain.named_modules() if isinstance(m, nn.InstanceNorm2d)]
        convs = {k: v for k, v in state.items() if k.rpartition(".")[0] not in names}
        try:
            missing, unexpected = self.generator.load_state_dict(convs, strict=False)
        except RuntimeError as e:  # a tensor of another shape
            raise ValueError(f"not a generator of shape {self.config}: {e}") from None
        if missing or unexpected:
            raise ValueError(f"not a generator of shape {self.config}: {missing + unexpected}")
        scale = torch.cat([state[f"{n}.weight"].float() - 1 for n in names])
        shift = torch.cat([state[f"{n}.bias"].float() for n in names])
        with torch.no_grad():
            self.head.bias.copy_(torch.cat([scale, shift]))
            self.head.weight.zero_()  # every style that generator at first; the head learns

    def norm_params(self, vector: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(N, style_dim) -> per norm layer (scale (N, C), shift (N, C))."""
        out = self.head(vector)
        scale, shift = out.split(sum(self.sizes), dim=1)
        return [
            (1 + s, b)
            for s, b in zip(scale.split(self.sizes, 1), shift.split(self.sizes, 1), strict=True)
        ]

    def forward(self, x: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        """Content (N, 3, H, W) RGB 0..255 with per-sample style vectors (N, style_dim) ->
        (N, 3, 4*ceil(H/4), 4*ceil(W/4)), about 0..255 (training's forward pass)."""
        for norm, (s, b) in zip(self.norms, self.norm_params(vector), strict=True):
            norm.set(s, b)
        return self.generator(x)

    def predictor_input(self, rgb: np.ndarray) -> torch.Tensor:
        """An (H, W, 3) uint8 style image as the predictor sees it: the centre square of its
        shorter side, resized to `predictor_size`; (1, 3, S, S) float 0..255."""
        img = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        s = self.config.predictor_size
        img = img.crop((left, top, left + side, top + side)).resize(
            (s, s), Image.Resampling.BICUBIC
        )
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float()

    def style_vector(
        self, rgb: np.ndarray, cancelled: Callable[[], bool] | None = None
    ) -> torch.Tensor:
        """The (style_dim,) float32 vector of an (H, W, 3) uint8 RGB style image. `cancelled`
        (a callable) is asked once before the prediction, which takes well under a second."""
        if cancelled is not None and cancelled():
            raise Cancelled("the style's prediction was cancelled")
        with torch.inference_mode():
            v = self.predictor(self.predictor_input(rgb).to(self.head.weight.device))
        return v[0].float().cpu()

    def style_generator(self, vector: torch.Tensor) -> Generator:
        """A plain generator (its own copy of the convs) whose instance norms carry the scale
        and shift of `vector` (style_dim,): what a frame runs, eval mode, on this net's
        device and dtype."""
        p = self.head.weight
        gen = Generator(self.config.generator_config()).to(p.device, p.dtype)
        convs = {k: v for k, v in self.generator.state_dict().items()}
        missing, unexpected = gen.load_state_dict(convs, strict=False)
        assert not unexpected, unexpected
        with torch.no_grad():
            params = self.norm_params(vector.to(p.device, p.dtype).reshape(1, -1))
            for (parent, attr, _), (s, b) in zip(_norm_slots(gen), params, strict=True):
                norm = getattr(parent, attr)
                norm.weight.copy_(s[0])
                norm.bias.copy_(b[0])
        return gen.eval().requires_grad_(False)

    def predictor_digest(self) -> str:
        """A short hash of the predictor's fp32 weights: a stored vector runs only on the net
        whose predictor made it."""
        h = hashlib.sha256()
        for key, t in sorted(self.predictor.state_dict().items()):
            h.update(key.encode())
            h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return h.hexdigest()[:16]


class CINStylizer(nn.Module):
    """One (possibly mixed) style of a CINNet as the pipeline runs models: (N, 3, H, W) RGB
    0..255 in, the same size out, about 0..255, unclamped. `preserve_color` keeps the frame's
    chroma under the stylized luminance (as AdaINStylizer does). Built once per session
    config, never per frame."""

    size_multiple = 4  # the generator's two stride-2 convs

    def __init__(self, net: CINNet, vector: torch.Tensor, preserve_color: bool = False) -> None:
        super().__init__()
        # The shared net, not a submodule: a backend's .to() on this module must not move it.
        object.__setattr__(self, "net", net)
        self.vector = vector.float().reshape(-1).cpu()
        self.preserve_color = bool(preserve_color)
        self.generator = net.style_generator(self.vector)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.generator(x)  # sides are multiples of size_multiple (the pipeline pads)
        if self.preserve_color:
            # y has x's size; the no-op resize says so to torch.export (the ONNX backend),
            # which cannot prove it through the generator's stride-2 convs and upsampling
            shift = F.interpolate(luma(y), size=x.shape[-2:], mode="nearest") - luma(x)
            y = x + shift
        return y


def blend_vectors(parts: Sequence[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """Weighted mean of style vectors, as Magenta interpolates styles; weights must be finite,
    >= 0, and not all 0 (normalised here)."""
    weights = [float(w) for _, w in parts]
    if not parts or any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"mix weights {weights}: expected finite numbers >= 0 with a positive sum")
    total = sum(weights)
    return sum(v.float() * (w / total) for (v, _), w in zip(parts, weights))  # type: ignore
