"""The adain kind: a VGG-19 encoder to relu4_1, adaptive instance normalization and a learned
decoder (Huang & Belongie; models/adain*.py). Its entries are of two roles (the card's
architecture says which, models/adain_store.py): a model, which is not a style but takes styles
from images (AddStyle, `artem styles add`), and a style, an image's statistics loaded onto its
model. A session sets AdaIN's alpha (strength), mixes styles of one model and may keep the
frame's colours: all inside one AdaINStylizer, built once per distinct choice.

A model whose card says `network: cin` is the fast net (models/adain_cin.py): its styles are
style vectors, a frame runs a small generator, mixes blend the vectors, strength blends pixels
(as the onnx kind's pairs do) and colour preservation keeps the frame's chroma."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.adain import AdaINNet
from ..models.adain_cin import CINStylizer, blend_vectors
from ..models.adain_import import classify, import_adain
from ..models.adain_store import (
    ROLE_MODEL,
    ROLE_STYLE,
    AdaINModel,
    AdaINStyleSpec,
    compute_style,
    load_adain_model,
    load_adain_style,
    model_config,
    write_adain_style,
)
from ..models.adain_style import AdaINStylizer, blend, compute_style_stats
from ..models.card import ModelCard
from ..models.importers import CheckpointError, read_state_dict
from ..models.onnx_export import export_adain_onnx, export_cin_onnx
from ..models.onnx_shipped import ShippedGraph, attached
from ..models.store import Entry
from .base import Cache, Imported, Kind, SessionModule, Style


class AdaINKind(Kind):
    name = "adain"
    summary = "VGG-19 encoder, adaptive instance normalization, learned decoder: any style image"
    module_types = (AdaINStylizer, CINStylizer)
    session_options = frozenset({"strength", "mix", "preserve_color"})
    takes_styles = True
    import_help = "pytorch-AdaIN's vgg_normalised.pth and decoder.pth (either order)"

    def _role(self, card: ModelCard) -> str:
        return str(card.architecture.get("role", ROLE_MODEL))

    def check_card(self, card: ModelCard) -> None:
        if self._role(card) == ROLE_STYLE:
            AdaINStyleSpec.from_dict(card.architecture)
        else:
            model_config(card.architecture)

    def base_of(self, card: ModelCard) -> str | None:
        return str(card.architecture.get("model")) if self._role(card) == ROLE_STYLE else None

    def is_base(self, card: ModelCard) -> bool:
        return self._role(card) == ROLE_MODEL

    def load_base(self, entry: Entry) -> AdaINModel:
        return load_adain_model(entry)

    def load(self, entry: Entry, base: Any = None) -> nn.Module:
        if not isinstance(base, AdaINModel):
            raise ValueError(f"{entry.path}: an adain style loads onto its adain model")
        return load_adain_style(entry, base)

    def optimized_mode(self, module: nn.Module, kernels: bool) -> str:
        if isinstance(module, CINStylizer):
            return "graph"  # a small generator with no fused form: CUDA graphs, no compiling
        return "fused"  # never compile: its autotune per warm size kept a server from serving

    def fused(self, module: nn.Module, use_kernels: bool):
        from ..backends.fused_adain import FusedAdaIN

        if isinstance(module, CINStylizer):
            return None

        return FusedAdaIN(module, use_kernels=use_kernels)

    def export_graph(self, entry: Entry) -> bytes:
        if not self.is_base(entry.card):
            raise ValueError(
                f"{entry.name!r} is a style of adain model {self.base_of(entry.card)!r}: the "
                "model's graph serves all its styles (export that one)"
            )
        net = self.load_base(entry).net
        if not isinstance(net, AdaINNet):  # the fast net: the frame and a style vector in
            return export_cin_onnx(net)
        return export_adain_onnx(net)

    def shipped_graph(self, module: nn.Module) -> ShippedGraph | None:
        """The model's graph takes the style's statistics and alpha as inputs (ADAIN_IO): one
        graph for all its styles. Colour preservation is not in it: such modules export."""
        if isinstance(module, CINStylizer) and not module.preserve_color:
            graph = attached(module.net)  # the fast net's: the style vector as an input
            if graph is None:
                return None
            return ShippedGraph(graph, module.net, {"vector": module.vector[None]})
        if not isinstance(module, AdaINStylizer) or module.preserve_color:
            return None
        graph = attached(module.net)
        if graph is None:
            return None
        feeds = {
            "style_mean": module.mean,
            "style_std": module.std,
            "alpha": torch.tensor(module.alpha, dtype=torch.float32),
        }
        return ShippedGraph(graph, module.net, feeds)

    def session_module(
        self,
        parts: Sequence[tuple[Style, float]],
        strength: float,
        preserve_color: bool,
        cache: Cache,
    ) -> SessionModule:
        """Alpha, the mix and colour preservation inside one AdaINStylizer: nothing is blended
        in pixels. A plain choice is the style's own module, shared by every session."""
        first = parts[0][0].model
        if isinstance(first, CINStylizer):
            return self._fast_session(parts, strength, preserve_color, cache)
        assert isinstance(first, AdaINStylizer)
        if len(parts) == 1 and strength == 1.0 and not preserve_color:
            return SessionModule(first, 1.0)

        def build() -> nn.Module:
            stats = blend([(s.model.stats, w) for s, w in parts])  # type: ignore[attr-defined]
            return AdaINStylizer(first.net, stats, strength, preserve_color)

        # A style's stamp changes when its files or its model's do: a stale module is never hit.
        key = (self.name, tuple((s.id, s.stamp, w) for s, w in parts), strength, preserve_color)
        return SessionModule(cache(key, build), 1.0)

    def _fast_session(
        self,
        parts: Sequence[tuple[Style, float]],
        strength: float,
        preserve_color: bool,
        cache: Cache,
    ) -> SessionModule:
        """A fast net's choice: the mix's vectors blended into one generator, colour
        preservation inside it, strength in pixels (its generator has no content path)."""
        first = parts[0][0].model
        assert isinstance(first, CINStylizer)
        if len(parts) == 1 and not preserve_color:
            return SessionModule(first, strength)

        def build() -> nn.Module:
            vector = blend_vectors([(s.model.vector, w) for s, w in parts])  # type: ignore[attr-defined]
            return CINStylizer(first.net, vector, preserve_color)

        key = (self.name, tuple((s.id, s.stamp, w) for s, w in parts), preserve_color)
        return SessionModule(cache(key, build), strength)

    def add_style(
        self,
        models_dir: Path,
        name: str,
        base: Any,
        rgb: np.ndarray,
        *,
        source: str,
        made_by: dict[str, Any],
        display_name: str = "",
        overwrite: bool = False,
        cancelled: Callable[[], bool] | None = None,
        commit: Callable[[], None] | None = None,
    ) -> Entry:
        stats = compute_style(base, rgb, cancelled)
        h, w = rgb.shape[:2]
        return write_adain_style(
            Path(models_dir),
            name,
            base,
            stats,
            (w, h),
            display_name=display_name,
            source=source,
            made_by=made_by,
            license="as the style image's (supplied by the user who added it)",
            overwrite=overwrite,
            commit=commit,
        )

    def import_files(
        self,
        paths: list[Path],
        name: str,
        models_dir: Path,
        *,
        license: str = "",
        overwrite: bool = False,
    ) -> Imported | None:
        if len(paths) == 1:  # one of its two files alone: say so, rather than "not a generator"
            try:
                role = classify(read_state_dict(paths[0]))
            except CheckpointError:
                return None
            if role in ("encoder", "decoder"):
                raise CheckpointError(
                    f"{paths[0]} is pytorch-AdaIN's {role}: an adain model needs both files, "
                    f"`artem models import vgg_normalised.pth decoder.pth --name {name}`"
                )
            return None
        if len(paths) != 2:
            return None
        entry = import_adain(paths, name, models_dir, license=license, overwrite=overwrite)
        return Imported(
            entry,
            f"imported {' and '.join(str(p) for p in paths)} as adain model {entry.name!r} into "
            f"{entry.path}; add styles with `artem styles add IMAGE --name NAME --model "
            f"{entry.name}`",
        )

    has_bench_entries = True

    def bench_entries(self, models_dir: Path, style: str, seed: int = 0) -> None:
        """A model with random weights and one style on it (statistics of a photograph): the
        timing of any adain style (VGG-19 to relu4_1 and its decoder mirror)."""
        import torch
        from skimage import data

        from ..models.adain import AdaINNet
        from ..models.adain_store import write_adain_model
        from ..models.store import read_entry

        torch.manual_seed(seed)
        entry = write_adain_model(
            models_dir,
            f"{style}-net",
            AdaINNet(),
            source="artem bench: random weights",
            made_by={"command": "artem bench"},
            license="none: random numbers",
            notes="for timing only",
            overwrite=True,
        )
        model = load_adain_model(read_entry(entry.path))
        image = data.coffee()
        write_adain_style(
            models_dir,
            style,
            model,
            compute_style_stats(model.net, image),
            image.shape[:2],
            source="artem bench: scikit-image coffee",
            overwrite=True,
        )


KIND = AdaINKind()
