"""Model kinds: everything the server knows about one kind of model lives in one module here,
and the rest of the server asks the kind instead of testing a card's `kind`.

A kind says how an entry of the models directory becomes a servable module (`load`), which
card fields it needs (`check_card`), how the peers' files become entries (`import_files`, for
`artem models import`), which backends and precisions run it and which it prefers per device
(`backends`, `precisions`, `default_run`), what a session may set for it (`session_options`,
`session_module`), whether styles are added to it from images (`takes_styles`, `add_style`)
and its thumbnail (`thumbnail`).

How to add a kind
-----------------
1. Write one module with a subclass of `Kind` (see `generator.py` for a kind whose entries are
   styles, `adain.py` for one whose models take styles through AddStyle). Override what differs
   from the defaults: at least `name`, `summary` and `load`.
2. Make it findable. In this package: add it to the list in `_builtin()` below. From another
   package (a plugin): declare an entry point in the group `artem.kinds` naming the instance
   or class,

       [project.entry-points."artem.kinds"]
       toy = "my_package.toy_kind:KIND"

   and `pip install` that package; `artem serve`, `artem models import` and the rest find it
   at their next start. In one process, `register(kind)` does the same (tests use both).
3. Its tests; if it is trained, its module in training/kinds/ and its config in
   training/configs/model/ (training has one module per kind too).

Nothing else changes: the registry, service, runs, CLI and benchmarks only ask kinds.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from .base import Imported, Kind, SessionModule, Style

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "artem.kinds"

__all__ = [
    "ENTRY_POINT_GROUP",
    "Imported",
    "Kind",
    "SessionModule",
    "Style",
    "all_kinds",
    "default_kind",
    "export_graph",
    "import_files",
    "kind_named",
    "kind_of",
    "kind_of_module",
    "names",
    "register",
    "with_option",
    "with_styles",
]

_lock = threading.Lock()
_table: dict[str, Kind] = {}
_loaded = False


def _builtin() -> list[Kind]:
    from .adain import KIND as ADAIN
    from .generator import KIND as GENERATOR
    from .identity import KIND as IDENTITY
    from .onnx import KIND as ONNX
    from .xnor import KIND as XNOR

    # The first is the default kind: what a net registered in code is served as, and the net
    # the benchmarks and the backend probe time when no style is named.
    return [GENERATOR, ADAIN, IDENTITY, XNOR, ONNX]


def _as_kind(obj: object, source: str) -> Kind:
    kind = obj() if isinstance(obj, type) else obj
    if not isinstance(kind, Kind):
        raise TypeError(f"{source}: expected a Kind (or Kind subclass), got {type(obj).__name__}")
    return kind


def _load() -> dict[str, Kind]:
    """The table, filled on first use: the built-in kinds, then the installed plugins'. A plugin
    that fails to load is logged and left out; it cannot replace a built-in kind."""
    global _loaded
    if _loaded:
        return _table
    with _lock:
        if _loaded:
            return _table
        for kind in _builtin():
            _table.setdefault(kind.name, kind)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                kind = _as_kind(ep.load(), f"entry point {ep.name} = {ep.value}")
            except Exception as e:
                log.error("model kind plugin %s = %s does not load: %s", ep.name, ep.value, e)
                continue
            if kind.name in _table and _table[kind.name] is not kind:
                log.error("model kind plugin %s: kind %r is taken", ep.value, kind.name)
                continue
            _table[kind.name] = kind
        _loaded = True
    return _table


def register(kind: Kind | type[Kind]) -> Kind:
    """Make a kind known in this process (an entry point does it for installed packages).
    Registering the same object again is a no-op; another kind of a taken name is refused."""
    kind = _as_kind(kind, "register")
    table = _load()
    with _lock:
        old = table.get(kind.name)
        if old is not None and old is not kind:
            raise ValueError(f"kind {kind.name!r} is already registered ({type(old).__name__})")
        table[kind.name] = kind
    return kind


def all_kinds() -> list[Kind]:
    return list(_load().values())


def names() -> list[str]:
    return list(_load())


def default_kind() -> Kind:
    return next(iter(_load().values()))


def kind_named(name: str) -> Kind:
    """The kind called `name`; ValueError naming the known ones otherwise."""
    kind = _load().get(name)
    if kind is None:
        raise ValueError(
            f"kind {name!r} is not one of {', '.join(_load())} (the kinds this server has; "
            f"plugins add theirs through the {ENTRY_POINT_GROUP!r} entry point group)"
        )
    return kind


def kind_of(card) -> Kind:
    """The kind of a model card (anything with a `kind` attribute)."""
    return kind_named(card.kind)


def kind_of_module(module: object) -> Kind | None:
    """The kind whose servable modules `module` is one of (None: a module no kind made, e.g. a
    net registered in code): what a backend asks to pick its fused form."""
    for kind in _load().values():
        if kind.module_types and isinstance(module, kind.module_types):
            return kind
    return None


def with_styles() -> list[Kind]:
    """The kinds whose models take styles from images (AddStyle, `artem styles add`)."""
    return [k for k in _load().values() if k.takes_styles]


def with_option(option: str) -> list[Kind]:
    """The kinds whose sessions may set `option` ("strength", "mix", "preserve_color")."""
    return [k for k in _load().values() if option in k.session_options]


def import_files(
    paths: Sequence, name: str, models_dir, *, license: str = "", overwrite: bool = False, **options
) -> Imported:
    """Import the peers' files as one entry, by the first kind that recognises them;
    ValueError saying what each kind imports when none does. `options`: import flags (None: not
    given); only kinds that take every one given (`Kind.import_options`) are asked."""
    given = {k: v for k, v in options.items() if v is not None}
    kinds = sorted(_load().values(), key=lambda k: k.import_rank)
    for kind in [k for k in kinds if set(given) <= k.import_options]:
        got = kind.import_files(
            list(paths), name, models_dir, license=license, overwrite=overwrite, **given
        )
        if got is not None:
            return got
    shown = ", ".join(map(str, paths))
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        takers = " or ".join(k.name for k in kinds if set(given) <= k.import_options) or "no"
        raise ValueError(f"models import: {flags}: options for {takers} files; {shown} is not one")
    offered = "; ".join(f"{k.name}: {k.import_help}" for k in kinds if k.import_help)
    raise ValueError(f"models import: no kind imports {shown}; {offered}")


def export_graph(entry_path: Path) -> Path:
    """Write the entry's model.onnx (its kind's export of its stored weights), replacing any
    older one in one rename: what the onnxruntime backend then serves without exporting."""
    from ..models.onnx_export import ONNX_FILE
    from ..models.store import read_entry

    entry = read_entry(entry_path)
    data = kind_of(entry.card).export_graph(entry)
    fd, tmp = tempfile.mkstemp(prefix=f".{ONNX_FILE}-", dir=entry.path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, entry.path / ONNX_FILE)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return entry.path / ONNX_FILE
