"""The styles a server can use: the built-in ones shipped with the package, the models
directory's entries, and `identity`. Watches the directory so new entries (from
`artem models import` or `artem-train`) appear without a restart.

Loading happens off the frame path: a watcher thread loads changed entries, then swaps the
table in one assignment; readers never see a half-loaded style.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import NotFound
from .models.card import CARD_FILE, WEIGHTS_FILE, InvalidName, ModelCard, validate_name
from .models.loading import Identity, load_model
from .models.store import Entry, list_entry_dirs, read_entry

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
    def __init__(self, models_dir: Path | None, builtin_dir: Path | None = BUILTIN_DIR) -> None:
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.builtin_dir = builtin_dir
        identity_card = ModelCard(name=IDENTITY, kind="identity", display_name="Identity",
                                  source="built in", notes="returns frames unchanged")
        self._styles: dict[str, Style] = {
            IDENTITY: Style(IDENTITY, identity_card, Identity(), b"", "server", ())}
        self._failed: dict[str, tuple] = {}  # name -> stamp of a version that failed to load
        self._lock = threading.Lock()  # one refresh at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    # -- reading ---------------------------------------------------------------------------
    def get(self, style_id: str, field: str = "style") -> Style:
        try:
            validate_name(style_id, field)
        except InvalidName as e:
            raise NotFound(f"{e}; known styles: {', '.join(self.ids())}") from None
        style = self._styles.get(style_id)
        if style is None:
            raise NotFound(f"{field} {style_id!r} is not a known style: expected one of {', '.join(self.ids())}")
        return style

    def ids(self) -> list[str]:
        return sorted(self._styles)

    def styles(self) -> list[Style]:
        return [self._styles[k] for k in self.ids()]

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
            current = dict(self._styles)
            changed: list[str] = []
            candidates = self._candidates()
            for name, (path, origin) in candidates.items():
                stamp = _stamp(path)
                old = current.get(name)
                if (old is not None and old.stamp == stamp and old.origin == origin) or self._failed.get(name) == stamp:
                    continue
                try:
                    entry: Entry = read_entry(path)
                    style = Style(name, entry.card, load_model(entry), entry.thumbnail_png(), origin, stamp)
                except Exception as e:  # a half-written or corrupt entry must not stop the server
                    self._failed[name] = stamp  # logged once; retried when its files change
                    log.error("cannot load style %r from %s: %s", name, path, e)
                    continue
                self._failed.pop(name, None)
                current[name] = style
                changed.append(name)
                log.info("loaded style %r (%s) from %s", name, entry.card.kind, path)
            for name in [n for n, s in current.items() if s.origin != "server" and n not in candidates]:
                del current[name]
                changed.append(name)
                log.info("style %r removed", name)
            self._styles = current
            return changed

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

