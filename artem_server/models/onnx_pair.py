"""ONNX pairs in a models directory: a style-prediction network and a transfer network
(Magenta's arbitrary image stylization, Ghiasi et al. 2017), and the styles added to them.
All are kind "onnx"; the card's architecture says which (`role`):

- a network (`model.onnx`): one image in, one image out; a style on its own;
- a pair (`predict.onnx` + `transfer.onnx`): not a style, but takes styles from images
  (AddStyle, `artem styles add`), like an adain model;
- a pair's style: the predictor's style vector for one image (`weights.safetensors`, fp32),
  computed once when the style is added, and the digest of the predictor that computed it, so
  a vector never runs on a pair whose predictor changed. A frame then costs one transfer run.

Style vectors mix linearly, as Magenta interpolates styles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .card import ModelCard
from .onnx_graph import ImageSpec, OnnxGraphError, digest
from .onnx_net import OnnxGraph, OnnxNet
from .store import Cancelled, Entry, write_entry
from .thumbnail import render_thumbnail

ROLE_NETWORK = "network"
ROLE_PAIR = "pair"
ROLE_PAIR_STYLE = "pair-style"
ROLES = (ROLE_NETWORK, ROLE_PAIR, ROLE_PAIR_STYLE)
PREDICT_FILE = "predict.onnx"
TRANSFER_FILE = "transfer.onnx"
VECTOR_KEY = "style"


def role_of(card: ModelCard) -> str:
    role = str(card.architecture.get("role", ""))
    if role not in ROLES:
        raise ValueError(
            f"onnx card {card.name!r}: architecture.role {role!r}: expected one of "
            f"{', '.join(ROLES)}"
        )
    return role


@dataclass(frozen=True)
class OnnxPair:
    """A loaded pair: its predictor (run on the CPU when a style is added) and its transfer
    graph, whose sessions every style of the pair shares."""

    name: str
    predictor: OnnxNet
    transfer_graph: OnnxGraph | None
    transfer_spec: ImageSpec
    predictor_digest: str
    card: ModelCard | None = None

    def style(self, vector: torch.Tensor) -> OnnxNet:
        """The transfer network with one style vector: what a session runs."""
        assert self.transfer_graph is not None
        return OnnxNet(self.transfer_graph, self.transfer_spec, vector)


def probe_style_image() -> np.ndarray:
    """The style image an import checks a pair with: scikit-image's bundled `coffee` photo."""
    from skimage import data

    return data.coffee()


def style_vector(
    pair: OnnxPair, rgb: np.ndarray, cancelled: Callable[[], bool] | None = None
) -> torch.Tensor:
    """The predictor's style vector, (D,) float32, for an (H, W, 3) uint8 RGB image."""
    if cancelled is not None and cancelled():
        raise Cancelled("the style's prediction was cancelled")
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float()  # a copy: writable
    net = pair.predictor
    with torch.inference_mode():
        v = net.raw(net.graph.session(torch.device("cpu")), x).reshape(-1).float()
    if v.numel() != pair.transfer_spec.style_dims:
        raise OnnxGraphError(
            f"the predictor gave {v.numel()} values; the transfer network takes "
            f"{pair.transfer_spec.style_dims}"
        )
    if not torch.isfinite(v).all():
        raise OnnxGraphError("the predictor gave non-finite values (NaN or inf) for this image")
    return v.clone()


def load_pair(entry: Entry) -> OnnxPair:
    arch = entry.card.architecture
    for f in (PREDICT_FILE, TRANSFER_FILE):
        if not (entry.path / f).is_file():
            raise ValueError(f"{entry.path}: an onnx pair lacks {f}")
    predict = (entry.path / PREDICT_FILE).read_bytes()
    found = digest(predict)
    if found != arch.get("predictor_digest"):
        raise ValueError(
            f"{entry.path}: {PREDICT_FILE} is not the file imported (digest {found} != "
            f"{arch.get('predictor_digest')}); import the pair again"
        )
    return OnnxPair(
        name=entry.name,
        predictor=OnnxNet(OnnxGraph(predict), ImageSpec.from_dict(arch["predictor"])),
        transfer_graph=OnnxGraph((entry.path / TRANSFER_FILE).read_bytes()),
        transfer_spec=ImageSpec.from_dict(arch["transfer"]),
        predictor_digest=found,
        card=entry.card,
    )


@dataclass(frozen=True)
class PairStyleSpec:
    """A pair style's architecture: its pair, the predictor's digest, the image's (w, h)."""

    model: str
    predictor_digest: str
    image_size: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": ROLE_PAIR_STYLE,
            "model": self.model,
            "predictor_digest": self.predictor_digest,
            "image_size": list(self.image_size),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PairStyleSpec:
        try:
            w, h = (int(v) for v in d["image_size"])
            return cls(str(d["model"]), str(d["predictor_digest"]), (w, h))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"onnx pair style card: architecture {d} lacks model/predictor_digest/image_size"
            ) from e


def load_pair_style(entry: Entry, pair: OnnxPair) -> OnnxNet:
    spec = PairStyleSpec.from_dict(entry.card.architecture)
    if spec.model != pair.name:
        raise ValueError(f"{entry.path}: style belongs to pair {spec.model!r}, not {pair.name!r}")
    if spec.predictor_digest != pair.predictor_digest:
        raise ValueError(
            f"{entry.path}: its style vector was predicted by another network than pair "
            f"{pair.name!r} has now ({spec.predictor_digest} != {pair.predictor_digest}); "
            "add the style again"
        )
    weights = entry.load_weights()
    if VECTOR_KEY not in weights:
        raise ValueError(f"{entry.path}: weights lack the style vector {VECTOR_KEY!r}")
    return pair.style(weights[VECTOR_KEY])


def write_pair_style(
    models_dir: Path,
    name: str,
    pair: OnnxPair,
    vector: torch.Tensor,
    image_size: tuple[int, int],
    *,
    source: str,
    made_by: dict[str, Any] | None = None,
    license: str = "",
    display_name: str = "",
    overwrite: bool = False,
    commit: Callable[[], None] | None = None,
) -> Entry:
    """Store a style vector (fp32, a few hundred bytes) with a thumbnail of it applied;
    `commit`, when given, is called just before anything is written (it may raise)."""
    card = ModelCard(
        name=name,
        kind="onnx",
        display_name=display_name,
        architecture=PairStyleSpec(pair.name, pair.predictor_digest, image_size).to_dict(),
        source=source,
        made_by=made_by or {},
        license=license,
    )
    thumb = render_thumbnail(pair.style(vector))
    if commit is not None:
        commit()
    return write_entry(
        Path(models_dir), card, {VECTOR_KEY: vector}, thumb, half=False, overwrite=overwrite
    )


def blend(parts: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """The weighted mean of style vectors (weights >= 0 with a positive sum)."""
    total = sum(w for _, w in parts)
    return sum(v * (w / total) for v, w in parts)  # type: ignore[return-value]
