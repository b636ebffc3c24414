"""Nothing outside artem_server/kinds/ branches on a model kind: no code names one. A file that
tests `card.kind == "adain"`, imports a kind's net to ask `isinstance(model, Generator)` or
keys a table by kind names fails here; it should ask the kind (artem_server.kinds) instead.

The check reads code, not prose: identifiers (a kind's name as a word of its own) and
string values, parsed with `ast`, so docstrings, comments and help texts may still describe the
kinds to a reader. The allow-list below says which files may name which kind, and why.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The kinds' names. `identity` is not checked: it is also the always-served style's id, which
# clients, transports and benches use by name. onnx and xnor are checked before their modules
# land so no new branch on them appears meanwhile.
KINDS = ("generator", "adain", "onnx", "xnor")

SCANNED = ("artem_server", "bench")

ALLOWED: dict[str, tuple[str, ...]] = {
    # The kinds themselves.
    "artem_server/kinds/": KINDS,
    # The networks and file formats the kinds wrap (generator.py, adain*.py, xnor*.py, the
    # ONNX import and export, the peers' checkpoints and the catalogue of their downloads):
    # code per kind by nature, reached only through the kind modules.
    "artem_server/models/": KINDS,
    # The fused forms of one net each, chosen by the net's kind (Kind.fused).
    "artem_server/backends/fused_generator.py": ("generator",),
    "artem_server/backends/fused_adain.py": ("adain",),
    "artem_server/backends/fused_xnor.py": ("xnor", "generator"),
    # ONNX the format, not the kind: the onnxruntime backend runs any kind's module exported to
    # ONNX (models/onnx_export.py).
    "artem_server/backends/__init__.py": ("onnx",),
    "artem_server/backends/onnx_runtime.py": ("onnx",),
    # ONNX the format: `artem models export-onnx` writes the graph file that backend serves.
    "artem_server/cli.py": ("onnx",),
    # `--backend fastest` times the backends on one probe net of the shipped styles' shape.
    "artem_server/backends/fastest.py": ("generator",),
    # Benchmarks of particular kinds against their peers (their subject is the kinds).
    "bench/adain.py": ("adain", "generator"),
    "bench/cpu_peer.py": ("adain", "generator"),
    "bench/xnor_gpu.py": ("xnor", "generator"),
}

# Identifiers that may name a kind anywhere: the contract's own field names, which engine
# clients compile against (ServerInfo.adain_models lists the models AddStyle adds styles to).
ALLOWED_IDENTIFIERS = {"adain_models"}


def _kinds_in(identifier: str, kinds) -> set[str]:
    """The kinds an identifier names as a word of its own: `adain_style`, `AdaINStylizer`,
    `GeneratorConfig`, `RANDOM_ADAIN`; not `onnxruntime` or `generators`."""
    low, named = identifier.lower(), set()
    for kind in kinds:
        for m in re.finditer(re.escape(kind), low):
            i, j = m.start(), m.end()
            starts = i == 0 or not identifier[i - 1].isalpha() or identifier[i].isupper()
            ends = j == len(low) or not identifier[j].isalpha() or identifier[j].isupper()
            if starts and ends:
                named.add(kind)
    return named


def _names_in(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every identifier and of every string value that is one word."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            found.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.lineno, node.name))
        elif isinstance(node, ast.arg):
            found.append((node.lineno, node.arg))
        elif isinstance(node, ast.alias):
            found += [(node.lineno, part) for part in node.name.split(".")]
            if node.asname:
                found.append((node.lineno, node.asname))
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.lineno, part) for part in node.module.split(".")]
        elif isinstance(node, ast.keyword) and node.arg:
            found.append((node.lineno, node.arg))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if re.fullmatch(r"[\w.-]+", node.value):  # a value, not prose
                found.append((node.lineno, node.value.replace("-", "_")))
    return found


def kind_names_outside_kinds() -> list[str]:
    hits = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            allowed = {k for prefix, ks in ALLOWED.items() if rel.startswith(prefix) for k in ks}
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for line, text in _names_in(tree):
                if text in ALLOWED_IDENTIFIERS:
                    continue
                named = _kinds_in(text, set(KINDS) - allowed)
                if named:
                    hits.append(f"{rel}:{line}: {text!r} names kind {sorted(named)[0]}")
    return sorted(set(hits))


def test_no_kind_is_named_outside_the_kinds_package():
    hits = kind_names_outside_kinds()
    assert not hits, "ask artem_server.kinds instead of naming a kind:\n" + "\n".join(hits)


def test_the_check_finds_a_branch_on_a_kind(tmp_path):
    """The check is not vacuous: the kind branches it replaced are found."""
    code = (
        "from .models.adain_style import AdaINStylizer\n"
        "def f(style, model):\n"
        "    if style.card.kind == 'generator':\n"
        "        return isinstance(model, AdaINStylizer)\n"
    )
    hits = [t for _, t in _names_in(ast.parse(code)) if _kinds_in(t, KINDS)]
    assert hits.count("generator") == 1 and "AdaINStylizer" in hits and "adain_style" in hits
