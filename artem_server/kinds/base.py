"""The Kind interface: what every model kind answers, with the defaults most kinds keep.

A kind object holds no per-server state; what a session builds (a mixed style, say) is kept by
the caller's cache (`SessionModule.cache`), so one kind serves any number of servers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from torch import nn

from ..errors import InvalidArgument
from ..models.card import ModelCard
from ..models.onnx_shipped import ShippedGraph
from ..models.store import Cancelled, Entry
from ..models.thumbnail import render_thumbnail

__all__ = ["Cache", "Cancelled", "Imported", "Kind", "SessionModule", "Style", "article"]


class Style(Protocol):
    """What a kind sees of a loaded style (the registry's Style)."""

    id: str
    card: ModelCard
    model: nn.Module
    stamp: tuple


@dataclass(frozen=True)
class Imported:
    """What `artem models import` made: the entry and the line it prints."""

    entry: Entry
    message: str


Cache = Callable[[Hashable, Callable[[], nn.Module]], nn.Module]


@dataclass(frozen=True)
class SessionModule:
    """A session's resolved choice: the module the pipeline runs and the strength it blends in
    pixels (1 when the strength is inside the module)."""

    model: nn.Module
    pixel_strength: float


def article(word: str) -> str:
    """'an adain', 'a generator': for messages that name a kind."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


class Kind:
    """One kind of model. Subclasses set `name` and `summary` and override `load`; the other
    methods have the defaults of a kind whose every entry is a style run by any backend."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line: what the kind is
    # The modules `load` returns (and `session_module` builds): how a backend, which sees only a
    # module, finds its kind (`kind_of_module`).
    module_types: ClassVar[tuple[type, ...]] = ()
    runs_model: ClassVar[bool] = True  # False: frames pass through untouched (no runner built)
    backends: ClassVar[tuple[str, ...] | None] = None  # None: every backend the server has
    precisions: ClassVar[tuple[str, ...] | None] = None  # None: every one its backend has
    # What a session config may set besides the style: of "strength", "mix", "preserve_color".
    session_options: ClassVar[frozenset[str]] = frozenset({"strength"})
    takes_styles: ClassVar[bool] = False  # its models take styles from images (AddStyle)
    import_help: ClassVar[str] = ""  # what `artem models import` takes for it ("" : nothing)
    import_rank: ClassVar[int] = 0  # lower tries first; a kind that takes any file goes last
    # `artem models import` flags (dest names) its import_files takes as keyword arguments
    import_options: ClassVar[frozenset[str]] = frozenset()

    # -- cards and entries -------------------------------------------------------------------
    def check_card(self, card: ModelCard) -> None:
        """Raise ValueError naming the field when the card lacks what `load` needs."""

    def base_of(self, card: ModelCard) -> str | None:
        """The entry a style of this kind is loaded onto (an adain style's model); None for a
        style that stands alone."""
        return None

    def is_base(self, card: ModelCard) -> bool:
        """True for an entry that is not a style but a model styles load onto."""
        return False

    def load_base(self, entry: Entry) -> Any:
        """Load a base entry (`is_base`); the result has `name` and `card` attributes."""
        raise ValueError(f"{entry.path}: kind {self.name!r} has no models that styles load onto")

    def load(self, entry: Entry, base: Any = None) -> nn.Module:
        """An eval-mode, fp32, CPU module for the entry, `base` the loaded entry `base_of` names.
        Input and output: (N, 3, H, W) RGB 0..255 sRGB; its `size_multiple` says what H and W
        must be multiples of."""
        raise NotImplementedError

    def thumbnail(self, module: nn.Module) -> bytes:
        """PNG bytes of the module applied to the thumbnail photograph."""
        return render_thumbnail(module)

    # -- running -----------------------------------------------------------------------------
    def default_run(self, cuda: bool) -> tuple[str, str]:
        """(backend, precision) when neither the server nor the session names one."""
        return ("torch-optimized", "fp16") if cuda else ("torch-eager", "fp32")

    def supports(self, backend: str, precision: str) -> bool:
        return (self.backends is None or backend in self.backends) and (
            self.precisions is None or precision in self.precisions
        )

    def describe_runs(self) -> str:
        """What `supports` allows, for messages."""
        backends = ", ".join(self.backends) if self.backends else "any backend"
        return backends + (f" in {', '.join(self.precisions)}" if self.precisions else "")

    def optimized_mode(self, module: nn.Module, cuda: bool) -> str:
        """The torch-optimized mode for one of its modules on CUDA (backends/torch_optimized)."""
        return "compile"

    def fused(self, module: nn.Module, use_kernels: bool) -> Callable | None:
        """Its modules' fused form for torch-optimized's `fused` mode; None: it has none."""
        return None

    def export_graph(self, entry: Entry) -> bytes:
        """The model.onnx for an entry (`artem models export-onnx`), from its stored weights."""
        raise ValueError(f"{entry.name!r} is {article(self.name)} entry: it has no ONNX export")

    def shipped_graph(self, module: nn.Module) -> ShippedGraph | None:
        """The ONNX graph its entry ships for `module` (models/onnx_shipped.py), with the inputs
        it takes besides the frame; None: the onnxruntime backend exports the module."""
        return None

    # -- sessions ----------------------------------------------------------------------------
    def session_module(
        self,
        parts: Sequence[tuple[Style, float]],
        strength: float,
        preserve_color: bool,
        cache: Cache,
    ) -> SessionModule:
        """The module for one style (or a mix, for kinds with "mix"; weights normalised) at
        `strength`. The caller has checked the options against `session_options`. Default: the
        style's own module, its strength blended in pixels."""
        return SessionModule(parts[0][0].model, strength)

    def refuse(self, option: str, field: str, style: Style, offered: str) -> InvalidArgument:
        """The error for an option this kind does not take; `offered`: the kinds that do."""
        why = {
            "mix": "only {offered} styles mix",
            "preserve_color": "colour preservation needs {a} style",
            "strength": "its strength cannot be set",
        }[option].format(offered=offered, a=article(offered))
        return InvalidArgument(f"{field}: style {style.id!r} is {article(self.name)}; {why}")

    # -- styles from images (AddStyle, `artem styles add`) ----------------------------------
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
        """Make the (H, W, 3) uint8 RGB image a style of `base`, stored as an entry; `commit`
        is called just before anything is written (it may raise to store nothing)."""
        raise ValueError(f"kind {self.name!r} does not take styles from images")

    # -- import ------------------------------------------------------------------------------
    def import_files(
        self,
        paths: list[Path],
        name: str,
        models_dir: Path,
        *,
        license: str = "",
        overwrite: bool = False,
    ) -> Imported | None:
        """Import the peers' files as an entry named `name`; None when they are not this
        kind's files (another kind is asked), an error naming the file when they are but are
        broken."""
        return None

    # -- benchmarks --------------------------------------------------------------------------
    has_bench_entries: ClassVar[bool] = False  # True: `bench_entries` writes one (random-<name>)

    def bench_entries(self, models_dir: Path, style: str, seed: int = 0) -> None:
        """Write a full-size style named `style` with random weights (and whatever it loads
        onto) for `artem bench`: the timing of a real style without shipping one."""
        raise ValueError(f"kind {self.name!r} has no random-weight style to time")
