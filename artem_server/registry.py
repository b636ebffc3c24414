"""The styles a server can use: the built-in ones shipped with the package, the models
directory's entries, and `identity`. Watches the directory so new entries (from
`artem models import` or `artem-train`) appear without a restart.

Loading happens off the frame path: a watcher thread loads changed entries, then swaps the
table in one assignment; readers never see a half-loaded style.

AdaIN models are entries too but not styles: they load first, into their own table, and each
adain style entry loads onto the model its card names. A style's stamp includes its model's,
so a reloaded model reloads its styles.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import NotFound
from .models.adain_store import (
    ROLE_MODEL,
    ROLE_STYLE,
    AdaINModel,
    load_adain_model,
    load_adain_style,
    role_of,
)
from .models.card import CARD_FILE, WEIGHTS_FILE, InvalidName, ModelCard, validate_name
from .models.loading import Identity, load_model
from .models.store import list_entry_dirs, read_entry

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_models"
IDENTITY = "identity"


@dataclass(frozen=True)
class Style:
    id: str
    card: ModelCard
    model: torch.nn.Module
    thumbnail_png: bytes
    origin: str  # "builtin", "models-dir" or "server"
    stamp: tuple  # file mtimes/sizes when loaded: a change means reload


@dataclass(frozen=True)
class LoadedAdaIN:
    """An adain model as the registry holds it: the net its styles run on."""

    model: AdaINModel
    origin: str  # "builtin" or "models-dir"
    stamp: tuple


def _stamp(path: Path) -> tuple:
    stamp = []
    for f in (path / CARD_FILE, path / WEIGHTS_FILE):
        try:
            st = f.stat()
            stamp.append((st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


class Registry:
    def __init__(
        self, models_dir: Path | None, builtin_dir: Path | None = BUILTIN_DIR, *, load: bool = True
    ) -> None:
        """`load=False` leaves loading to the first `refresh` (a server loads behind NOT_SERVING health)."""
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.builtin_dir = builtin_dir
        identity_card = ModelCard(
            name=IDENTITY,
            kind="identity",
            display_name="Identity",
            source="built in",
            notes="returns frames unchanged",
        )
        self._styles: dict[str, Style] = {
            IDENTITY: Style(IDENTITY, identity_card, Identity(), b"", "server", ())
        }
        self._adain: dict[str, LoadedAdaIN] = {}  # adain models by name
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
                f"{field} {style_id!r} is not a known style: expected one of {', '.join(self.ids())}"
            )
        return style

    def ids(self) -> list[str]:
        return sorted(self._styles)

    def styles(self) -> list[Style]:
        return [self._styles[k] for k in self.ids()]

    def adain_model(self, name: str, field: str = "model") -> AdaINModel:
        loaded = self._adain.get(name)
        if loaded is None:
            known = ", ".join(sorted(self._adain)) or "none loaded"
            raise NotFound(f"{field} {name!r} is not an adain model here: expected one of {known}")
        return loaded.model

    def adain_models(self) -> list[AdaINModel]:
        return [self._adain[k].model for k in sorted(self._adain)]

    def register(
        self, style_id: str, model: torch.nn.Module, card: ModelCard | None = None
    ) -> Style:
        """Serve a net built in code as a style (origin "server"): refreshes keep it; a models
        directory entry of the same name replaces it. `model` follows load_model's contract."""
        validate_name(style_id, "style")
        card = card or ModelCard(name=style_id, kind="generator", source="registered in code")
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
            styles, models = dict(self._styles), dict(self._adain)
            changed: list[str] = []
            candidates = self._candidates()
            cards: dict[str, tuple[Path, str, tuple, ModelCard]] = {}
            for name, (path, origin) in candidates.items():
                stamp = _stamp(path)
                old = styles.get(name) or models.get(name)
                if old is not None and old.stamp[: len(stamp)] == stamp and old.origin == origin:
                    cards[name] = (
                        path,
                        origin,
                        stamp,
                        old.card if isinstance(old, Style) else old.model.card,
                    )
                    continue
                try:
                    cards[name] = (path, origin, stamp, read_entry(path).card)
                except Exception as e:  # a half-written or corrupt entry must not stop the server
                    self._fail(name, stamp, path, e)
            # adain models first: the styles below are loaded onto them
            for name, (path, origin, stamp, card) in cards.items():
                old_model = models.get(name)
                if (
                    role_of(card) != ROLE_MODEL
                    or self._failed.get(name) == stamp
                    or (
                        old_model is not None
                        and old_model.stamp == stamp
                        and old_model.origin == origin
                    )
                ):
                    continue
                try:
                    loaded = LoadedAdaIN(load_adain_model(read_entry(path)), origin, stamp)
                except Exception as e:
                    self._fail(name, stamp, path, e)
                    continue
                self._failed.pop(name, None)
                models[name] = loaded
                styles.pop(name, None)
                changed.append(name)
                log.info("loaded adain model %r from %s", name, path)
            for name, (path, origin, stamp, card) in cards.items():
                role = role_of(card)
                if role == ROLE_MODEL:
                    continue
                base = (
                    models.get(str(card.architecture.get("model"))) if role == ROLE_STYLE else None
                )
                key = stamp  # an adain style's also says which version of its model it loaded onto
                if role == ROLE_STYLE:
                    key += ((base.model.name, base.stamp, base.origin) if base else None,)
                old = styles.get(name)
                if (
                    old is not None and old.stamp == key and old.origin == origin
                ) or self._failed.get(name) == key:
                    continue
                try:
                    entry = read_entry(path)
                    if role != ROLE_STYLE:
                        model = load_model(entry)
                    elif base is None:
                        raise LookupError(
                            f"it belongs to adain model {card.architecture.get('model')!r}, which is "
                            f"not loaded (adain models: {', '.join(sorted(models)) or 'none'})"
                        )
                    else:
                        model = load_adain_style(entry, base.model)
                    style = Style(name, entry.card, model, entry.thumbnail_png(), origin, key)
                except Exception as e:
                    self._fail(name, key, path, e)
                    continue
                self._failed.pop(name, None)
                styles[name] = style
                models.pop(name, None)
                changed.append(name)
                log.info("loaded style %r (%s) from %s", name, entry.card.kind, path)
            for table in (styles, models):
                for name in [
                    n for n, v in table.items() if v.origin != "server" and n not in candidates
                ]:
                    del table[name]
                    self._failed.pop(name, None)
                    changed.append(name)
                    log.info("style or model %r removed", name)
            for name in [n for n in self._failed if n not in candidates]:
                del self._failed[name]
            self._styles, self._adain = styles, models
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
