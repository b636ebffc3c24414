"""The onnx kind: style networks brought as ONNX files, run by ONNX Runtime (its CUDA provider
with IO binding on a GPU, its CPU provider otherwise), in the precision they are stored in.

Its entries are of three roles (models/onnx_pair.py):
- a network (`artem models import style.onnx --name N`): one image in, one image out, a style
  of its own: the ONNX Model Zoo's fast-neural-style files, `artem-train export.onnx=true`'s
  model.onnx, or any net of that shape. What the graph wants (layout, channel order, value
  range, size) is read from it and checked by running it (models/onnx_import.py);
- a pair (`artem models import predict.onnx transfer.onnx --name M`): a style-prediction and a
  transfer network (Magenta's arbitrary stylization); not a style, it takes styles from images
  (AddStyle, `artem styles add --model M`) as an adain model does;
- a pair's style: the predictor's style vector for one image. Styles of one pair mix (their
  vectors blend, as Magenta interpolates styles); strength blends pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..errors import InvalidArgument
from ..models.card import ModelCard
from ..models.onnx_export import ONNX_FILE
from ..models.onnx_graph import ImageSpec
from ..models.onnx_import import SUFFIX, ImportFlags, describe, import_network, import_pair
from ..models.onnx_net import OnnxGraph, OnnxNet
from ..models.onnx_pair import (
    ROLE_NETWORK,
    ROLE_PAIR,
    ROLE_PAIR_STYLE,
    OnnxPair,
    PairStyleSpec,
    blend,
    load_pair,
    load_pair_style,
    role_of,
    style_vector,
    write_pair_style,
)
from ..models.store import Entry
from .base import Cache, Imported, Kind, SessionModule, Style


class OnnxKind(Kind):
    name = "onnx"
    summary = "an ONNX style network, or a style-prediction + transfer pair taking style images"
    module_types = (OnnxNet,)
    backends = ("onnxruntime",)
    precisions = ("fp32",)
    session_options = frozenset({"strength", "mix"})
    takes_styles = True
    import_rank = -10  # it takes .onnx files only: asked before kinds that read any file
    import_options = frozenset({"layout", "channels", "range", "output_range", "resize"})
    import_help = (
        "one .onnx style network (an image in, an image out), or a .onnx style-prediction "
        "network and its transfer network"
    )

    def check_card(self, card: ModelCard) -> None:
        role = role_of(card)
        arch = card.architecture
        if role == ROLE_NETWORK:
            ImageSpec.from_dict(arch)
        elif role == ROLE_PAIR:
            for part in ("transfer", "predictor"):
                if not isinstance(arch.get(part), dict):
                    raise ValueError(f"onnx pair card {card.name!r}: architecture lacks {part!r}")
                ImageSpec.from_dict(arch[part])
        else:
            PairStyleSpec.from_dict(arch)

    def base_of(self, card: ModelCard) -> str | None:
        return str(card.architecture.get("model")) if role_of(card) == ROLE_PAIR_STYLE else None

    def is_base(self, card: ModelCard) -> bool:
        return role_of(card) == ROLE_PAIR

    def load_base(self, entry: Entry) -> OnnxPair:
        return load_pair(entry)

    def load(self, entry: Entry, base: Any = None) -> nn.Module:
        if role_of(entry.card) == ROLE_PAIR_STYLE:
            if not isinstance(base, OnnxPair):
                raise ValueError(f"{entry.path}: an onnx pair's style loads onto its pair")
            return load_pair_style(entry, base)  # type: ignore[return-value]
        spec = ImageSpec.from_dict(entry.card.architecture)
        path = entry.path / ONNX_FILE
        if not path.is_file():
            raise ValueError(f"{entry.path}: an onnx network entry lacks {ONNX_FILE}")
        return OnnxNet(OnnxGraph(path.read_bytes()), spec)  # type: ignore[return-value]

    # -- running -----------------------------------------------------------------------------
    def default_run(self, cuda: bool) -> tuple[str, str]:
        return ("onnxruntime", "fp32")

    def session_module(
        self,
        parts: Sequence[tuple[Style, float]],
        strength: float,
        preserve_color: bool,
        cache: Cache,
    ) -> SessionModule:
        """One style: its own module. A mix (styles of one pair): the transfer network with the
        blend of their vectors, built once per distinct mix. Strength blends pixels."""
        if len(parts) == 1:
            return SessionModule(parts[0][0].model, strength)
        for i, (style, _) in enumerate(parts):
            if role_of(style.card) != ROLE_PAIR_STYLE:
                raise InvalidArgument(
                    f"config.mix[{i}].style {style.id!r} is an onnx network: only styles of an "
                    "onnx pair mix (their style vectors blend)"
                )
        first = parts[0][0].model
        assert isinstance(first, OnnxNet)

        def build() -> nn.Module:
            vectors = [(s.model.style, w) for s, w in parts]  # type: ignore[attr-defined]
            return first.with_style(blend(vectors))  # type: ignore[return-value]

        key = (self.name, tuple((s.id, s.stamp, w) for s, w in parts))
        return SessionModule(cache(key, build), strength)

    # -- styles from images ------------------------------------------------------------------
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
        vector = style_vector(base, rgb, cancelled)
        h, w = rgb.shape[:2]
        return write_pair_style(
            Path(models_dir),
            name,
            base,
            vector,
            (w, h),
            source=source,
            made_by=made_by,
            license="as the style image's (supplied by the user who added it)",
            display_name=display_name,
            overwrite=overwrite,
            commit=commit,
        )

    # -- import ------------------------------------------------------------------------------
    def import_files(
        self,
        paths: list[Path],
        name: str,
        models_dir: Path,
        *,
        license: str = "",
        overwrite: bool = False,
        **flags: Any,
    ) -> Imported | None:
        paths = [Path(p) for p in paths]
        if not paths or any(p.suffix.lower() != SUFFIX for p in paths):
            return None
        options = ImportFlags(**flags)
        if len(paths) == 1:
            got = import_network(
                paths[0], name, models_dir, options, license=license, overwrite=overwrite
            )
            message = (
                f"imported {paths[0]} as style {name!r} (onnx: {describe(got.spec)}) into "
                f"{got.entry.path}"
            )
        elif len(paths) == 2:
            got = import_pair(
                paths, name, models_dir, options, license=license, overwrite=overwrite
            )
            message = (
                f"imported {' and '.join(map(str, paths))} as onnx pair {name!r} (transfer: "
                f"{describe(got.spec)}) into {got.entry.path}; add styles with "
                f"`artem styles add IMAGE --name NAME --model {name}`"
            )
        else:
            raise ValueError(
                f"models import: got {len(paths)} .onnx files; expected one style network or a "
                "style-prediction network and its transfer network"
            )
        return Imported(got.entry, "\n".join([message, *(f"warning: {w}" for w in got.warnings)]))

    # -- benchmarks --------------------------------------------------------------------------
    has_bench_entries = True

    def bench_entries(self, models_dir: Path, style: str, seed: int = 0) -> None:
        """The generator kind's full-size random net, exported to ONNX and imported as a
        network: the timing of an imported fast-neural-style file (the Model Zoo's are that
        net), conversions and IO binding included."""
        import tempfile

        from ..models.onnx_export import export_onnx
        from ..models.store import read_entry
        from .generator import KIND as GENERATOR

        with tempfile.TemporaryDirectory(prefix="artem-bench-onnx-") as tmp:
            GENERATOR.bench_entries(Path(tmp), "net", seed)
            path = Path(tmp) / "net.onnx"
            path.write_bytes(export_onnx(GENERATOR.load(read_entry(Path(tmp) / "net"))))
            import_network(path, style, models_dir, overwrite=True)


KIND = OnnxKind()
