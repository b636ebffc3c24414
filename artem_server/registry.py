"""The styles a server can use: the built-in ones shipped with the package, the models
directory's entries, and `identity`. Watches the directory so new entries (from
`artem models import` or `artem-train`) appear without a restart.

Loading happens off the frame path: a watcher thread loads changed entries, then swaps the
table in one assignment; readers never see a half-loaded style.

Every entry is loaded by its kind (artem_server/kinds). Some entries are not styles but models
that styles load onto (an adain model, `Kind.is_base`): these bases load first, into their own
table, and each style whose card names a base (`Kind.base_of`) loads onto it. A style's stamp
includes its base's, so a reloaded base reloads its styles.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .errors import NotFound
from .kinds import Kind, default_kind, kind_of, with_styles
from .kinds.base import article
from .kinds.identity import KIND as IDENTITY_KIND
from .kinds.identity import STYLE as IDENTITY
from .models.card import InvalidName, ModelCard, validate_name
from .models.store import list_entry_dirs, read_entry

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_models"


@dataclass(frozen=True)
class Style:
    id: str
    card: ModelCard
    model: torch.nn.Module
    thumbnail_png: bytes
    origin: str  # "builtin", "models-dir" or "server"
    stamp: tuple  # file mtimes/sizes when loaded: a change means reload

    @property
    def kind(self) -> Kind:
        return kind_of(self.card)


@dataclass(frozen=True)
class LoadedBase:
    """A model that styles load onto, as the registry holds it: what its kind's `load_base`
    returned (it has `name` and `card`)."""

    model: Any
    origin: str  # "builtin" or "models-dir"
    stamp: tuple


def _stamp(path: Path) -> tuple:
    """Every file of the entry as it is now (card, weights, and what else it holds: a graph
    that `artem models export-onnx` writes beside a served style reloads it, so its next
    runner serves the graph). Hidden files are files being written."""
    try:
        files = sorted(f for f in path.iterdir() if not f.name.startswith("."))
        return tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    except OSError:
        return ()


class Registry:
    def __init__(
        self, models_dir: Path | None, builtin_dir: Path | None = BUILTIN_DIR, *, load: bool = True
    ) -> None:
        """`load=False` leaves loading to the first `refresh` (a server loads while NOT_SERVING)."""
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.builtin_dir = builtin_dir
        identity = IDENTITY_KIND.card()
        self._styles: dict[str, Style] = {
            IDENTITY: Style(IDENTITY, identity, IDENTITY_KIND.load(None), b"", "server", ())
        }
        self._bases: dict[str, LoadedBase] = {}  # models that styles load onto, by name
        self._failed: dict[str, tuple] = {}  # name -> stamp of a version that failed to load
        self._lock = threading.Lock()  # one refresh at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if load:
            self.refresh()

    # -- reading ---------------------------------------------------------------------------
    def get(self, style_id: str, field: str = "style") -> Style:
        try:
            validate_name(style_id, field)
        except InvalidName as e:
            raise NotFound(f"{e}; known styles: {', '.join(self.ids())}") from None
        style = self._styles.get(style_id)
        if style is None:
            raise NotFound(
                f"{field} {style_id!r} is not a known style: expected one of "
                f"{', '.join(self.ids())}"
            )
        return style

    def ids(self) -> list[str]:
        return sorted(self._styles)

    def styles(self) -> list[Style]:
        return [self._styles[k] for k in self.ids()]

    def base(self, name: str, field: str = "model") -> Any:
        """The loaded model called `name` that styles load onto (an adain model)."""
        loaded = self._bases.get(name)
        if loaded is None:
            known = ", ".join(sorted(self._bases)) or "none loaded"
            kinds = " or ".join(f"{article(k.name)} model" for k in with_styles())
            raise NotFound(
                f"{field} {name!r} is not {kinds or 'a model'} here: expected one of {known}"
            )
        return loaded.model

    def bases(self) -> list[Any]:
        """The models that styles load onto, by name (AddStyle's `model`)."""
        return [self._bases[k].model for k in sorted(self._bases)]

    def register(
        self, style_id: str, model: torch.nn.Module, card: ModelCard | None = None
    ) -> Style:
        """Serve a net built in code as a style (origin "server"): refreshes keep it; a models
        directory entry of the same name replaces it. `model` follows Kind.load's contract; the
        card's kind (default: the default kind) says how sessions may use it."""
        validate_name(style_id, "style")
        card = card or ModelCard(
            name=style_id, kind=default_kind().name, source="registered in code"
        )
        kind_of(card)  # a kind this server has
        style = Style(style_id, card, model, b"", "server", ())
        with self._lock:
            self._styles = {**self._styles, style_id: style}
        return style

    # -- loading ---------------------------------------------------------------------------
    def _candidates(self) -> dict[str, tuple[Path, str]]:
        """name -> (entry folder, origin); the models directory overrides a built-in name."""
        found: dict[str, tuple[Path, str]] = {}
        for origin, root in (("builtin", self.builtin_dir), ("models-dir", self.models_dir)):
            for path in list_entry_dirs(root) if root is not None else []:
                if path.name == IDENTITY:
                    continue
                if path.name in found:
                    log.warning("%s overrides the built-in style of the same name", path)
                found[path.name] = (path, origin)
        return found

    def refresh(self) -> list[str]:
        """Load new or changed entries, drop removed ones; returns the ids that changed.
        A broken entry is logged and left out; a style already loaded stays until a good
        version replaces it."""
        with self._lock:
            styles, bases = dict(self._styles), dict(self._bases)
            changed: list[str] = []
            candidates = self._candidates()
            cards: dict[str, tuple[Path, str, tuple, ModelCard]] = {}
            for name, (path, origin) in candidates.items():
                stamp = _stamp(path)
                old = styles.get(name) or bases.get(name)
                if old is not None and old.stamp[: len(stamp)] == stamp and old.origin == origin:
                    cards[name] = (
                        path,
                        origin,
                        stamp,
                        old.card if isinstance(old, Style) else old.model.card,
                    )
                    continue
                try:
                    card = read_entry(path).card
                    kind_of(card).check_card(card)
                    cards[name] = (path, origin, stamp, card)
                except Exception as e:  # a half-written or corrupt entry must not stop the server
                    self._fail(name, stamp, path, e)
            # bases first: the styles below are loaded onto them
            for name, (path, origin, stamp, card) in cards.items():
                kind, old_base = kind_of(card), bases.get(name)
                if (
                    not kind.is_base(card)
                    or self._failed.get(name) == stamp
                    or (
                        old_base is not None
                        and old_base.stamp == stamp
                        and old_base.origin == origin
                    )
                ):
                    continue
                try:
                    loaded = LoadedBase(kind.load_base(read_entry(path)), origin, stamp)
                except Exception as e:
                    self._fail(name, stamp, path, e)
                    continue
                self._failed.pop(name, None)
                bases[name] = loaded
                styles.pop(name, None)
                changed.append(name)
                log.info("loaded %s model %r from %s", kind.name, name, path)
            for name, (path, origin, stamp, card) in cards.items():
                kind = kind_of(card)
                if kind.is_base(card):
                    continue
                base_name = kind.base_of(card)
                base = bases.get(base_name) if base_name is not None else None
                key = stamp  # a style on a base also says which version of the base it loaded onto
                if base_name is not None:
                    key += ((base.model.name, base.stamp, base.origin) if base else None,)
                old = styles.get(name)
                if (
                    old is not None and old.stamp == key and old.origin == origin
                ) or self._failed.get(name) == key:
                    continue
                try:
                    entry = read_entry(path)
                    if base_name is not None and base is None:
                        raise LookupError(
                            f"it belongs to {kind.name} model {base_name!r}, which is not loaded "
                            f"(models: {', '.join(sorted(bases)) or 'none'})"
                        )
                    model = kind.load(entry, base.model if base else None)
                    style = Style(name, entry.card, model, entry.thumbnail_png(), origin, key)
                except Exception as e:
                    self._fail(name, key, path, e)
                    continue
                self._failed.pop(name, None)
                styles[name] = style
                bases.pop(name, None)
                changed.append(name)
                log.info("loaded style %r (%s) from %s", name, kind.name, path)
            for table in (styles, bases):
                for name in [
                    n for n, v in table.items() if v.origin != "server" and n not in candidates
                ]:
                    del table[name]
                    self._failed.pop(name, None)
                    changed.append(name)
                    log.info("style or model %r removed", name)
            for name in [n for n in self._failed if n not in candidates]:
                del self._failed[name]
            self._styles, self._bases = styles, bases
            return changed

    def _fail(self, name: str, key: tuple, path: Path, e: Exception) -> None:
        """Remember a version that failed, logging it once; it is retried when `key` changes."""
        if self._failed.get(name) != key:
            log.error("cannot load style %r from %s: %s", name, path, e)
        self._failed[name] = key

    def watch(self, interval_s: float = 1.0) -> None:
        """Poll the models directory every `interval_s` seconds in a daemon thread."""
        if self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:
                    log.exception("models directory refresh failed")

        self._thread = threading.Thread(target=loop, name="artem-registry-watch", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
