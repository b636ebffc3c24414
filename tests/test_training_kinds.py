"""Training kinds: the model config's `kind` picks the module, an unknown one fails naming the
field, a new kind is one module on the shared scaffold (a toy in tests/training_kinds/ trains,
resumes and exports an entry the server loads), and the training modules import one another
without cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import artem_training
import artem_training.kinds as kinds
import numpy as np
import pytest
import torch
from artem_training.errors import ConfigError
from artem_training.kinds import model_config
from artem_training.kinds.generator import ENTRY, fit
from artem_training.run import resolve
from artem_training.train import train
from test_training import compose_cfg, options, tiny

from artem_server.models.generator import Generator
from artem_server.models.loading import load_model
from artem_server.models.store import read_entry

PACKAGE = Path(artem_training.__file__).parent


def test_every_model_config_names_a_training_kind() -> None:
    assert {"adain", "generator"} <= set(kinds.kind_names())  # a new kind adds itself
    for option in options("model"):
        assert compose_cfg([f"model={option}"]).model.kind in kinds.kind_names(), option


@pytest.mark.parametrize(
    "override, expected",
    [("model.kind=nonesuch", r"model\.kind.*'nonesuch'.*adain, generator"), ("~model.kind", "")],
)
def test_unknown_or_missing_kind_names_the_field(
    tmp_path: Path, override: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected or r"model\.kind.*names no kind"):
        train(tiny(tmp_path, override))
    assert not (tmp_path / "run").exists(), "nothing is built before the kind is known"


@pytest.fixture
def toy_kind(monkeypatch):
    """The kinds package also looks in tests/training_kinds/ (as if toy.py were added there)."""
    monkeypatch.setattr(
        kinds, "__path__", [*kinds.__path__, str(Path(__file__).parent / "training_kinds")]
    )
    yield
    sys.modules.pop("artem_training.kinds.toy", None)


def test_a_new_kind_is_one_module_on_the_scaffold(tmp_path: Path, toy_kind) -> None:
    def run(name: str, *extra: str):
        cfg = tiny(tmp_path / name, "model.kind=toy", "trainer.steps=4", "trainer.threads=1")
        cfg.paths.output_dir = str(tmp_path / name)
        for item in extra:
            key, value = item.split("=", 1)
            cfg.trainer[key] = value
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return train(cfg)

    whole = run("whole")
    assert [p.name for p in whole.checkpoints] == ["step_000002.pt", "step_000004.pt"]
    entry = read_entry(whole.entry.path)
    assert entry.card.kind == "generator" and entry.card.notes.startswith("A toy")
    assert entry.card.made_by["metrics"]["steps"] == 4 and whole.sample_grid.is_file()
    x = torch.rand(1, 3, 32, 32) * 255
    assert load_model(entry)(x).shape == x.shape

    # The scaffold's resume (weights, Adam, crop draws) works for a kind that wrote none of it.
    resumed = run("resumed", f"resume={whole.checkpoints[0]}")
    assert resumed.metrics["resumed_at"] == 2 and len(resumed.checkpoints) == 1
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


class InvertLoss(torch.nn.Module):
    """(output, input) -> (L1 to the inverted input, 0): an objective with no loss network."""

    style_image = np.full((16, 16, 3), 255, np.uint8)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (y - (255 - x)).abs().mean() / 255, y.new_zeros(())


def test_a_generator_variant_reuses_the_loop_with_its_own_net_and_loss(tmp_path: Path) -> None:
    built = []

    def build(cfg):
        built.append(Generator(model_config(cfg.model)))
        return built[-1]

    def loss(cfg, device):
        return InvertLoss(), "L1 to the inverted colours", False, "1"

    cfg = resolve(tiny(tmp_path, "trainer.threads=1"))
    result = fit(cfg, "a test", build, ENTRY, 4, loss=loss)
    assert result.model is built[0]
    card = read_entry(result.entry.path).card
    assert card.notes.startswith("Loss: L1 to the inverted colours.")
    assert card.made_by["command"] == "a test" and card.made_by["loss_network"].startswith("L1")
    assert card.architecture == built[0].config.to_dict()


def _imports(path: Path) -> set[str]:
    """The artem_training modules `path` imports anywhere in it (a late import inside a
    function hides a cycle from Python's import machinery, not from this)."""
    module = ".".join(("artem_training", *path.relative_to(PACKAGE).with_suffix("").parts))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    package = package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("artem_training")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            elif (node.module or "").startswith("artem_training"):
                base = node.module
            else:
                continue
            for a in node.names:  # `from . import x`: the module x, else the package
                sub = f"{base}.{a.name}"
                found.add(sub if _module_path(sub) is not None else base)
    return found - {module}


def _module_path(name: str) -> Path | None:
    parts = name.split(".")[1:]
    for p in (PACKAGE.joinpath(*parts).with_suffix(".py"), PACKAGE.joinpath(*parts, "__init__.py")):
        if parts and p.is_file():
            return p
    return None


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        out[".".join(("artem_training", *parts))] = path
    return out


def test_training_modules_have_no_import_cycles() -> None:
    modules = _modules()
    assert {"artem_training.train", "artem_training.data"} <= set(modules)
    graph = {m: _imports(p) & set(modules) for m, p in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = path[path.index(n) :] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_each_training_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each module imported before any other of ours (the package forgotten in between)."""
    names = sorted(_modules())
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    for m in [m for m in sys.modules if m.startswith('artem_training')]:\n"
        "        del sys.modules[m]\n"
        "    importlib.import_module(name)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
