"""The model.onnx shipped beside built-in entries: the onnxruntime backend serves it without an
export, it computes what its checkpoint computes, and one made from other weights is never
served (`artem models export-onnx` remakes it)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from artem_server.backends import create_runner
from artem_server.kinds import kind_of
from artem_server.models.card import ModelCard
from artem_server.models.onnx_export import ONNX_FILE
from artem_server.models.store import list_entry_dirs, read_entry, write_entry
from artem_server.registry import BUILTIN_DIR, Registry

pytest.importorskip("onnxruntime")

ARTEM = str(Path(sys.executable).with_name("artem"))
CPU = torch.device("cpu")
TOLERANCE = 0.5  # grey levels of 0..255 (ONNX Runtime's and torch's float sums differ slightly)


def photo(h: int = 64, w: int = 96) -> torch.Tensor:
    rgb = np.asarray(Image.fromarray(data.chelsea()).resize((w, h), Image.Resampling.BICUBIC))
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float()


def max_diff(style_model: torch.nn.Module, runner) -> float:
    x = photo()
    with torch.inference_mode():
        return float((runner(x) - style_model(x)).abs().max())


def export_onnx(models_dir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`artem models export-onnx ARGS --models-dir DIR`, as a user runs it."""
    return subprocess.run(
        [ARTEM, "models", "export-onnx", *args, "--models-dir", str(models_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def exported_entries() -> list[str]:
    """Built-in entries whose kind writes a graph: generator styles and adain models."""
    names = []
    for path in list_entry_dirs(BUILTIN_DIR):
        card = read_entry(path).card
        if card.kind == "generator" or (card.kind == "adain" and kind_of(card).is_base(card)):
            names.append(card.name)
    return names


def test_every_builtin_generator_and_adain_model_ships_its_graph():
    names = exported_entries()
    assert {"nocturne", "tessera", "adain-lite"} <= set(names)
    missing = [n for n in names if not (BUILTIN_DIR / n / ONNX_FILE).is_file()]
    assert not missing, (
        f"no {ONNX_FILE}: `artem models export-onnx {' '.join(missing)} "
        "--models-dir artem_server/builtin_models`"
    )


def test_shipped_graphs_are_served_and_agree_with_their_checkpoints():
    """Each built-in style on onnxruntime runs its entry's graph (no export) and matches the
    torch module of its weights; a graph left stale by new weights fails here."""
    registry = Registry(None)
    styles = [s for s in registry.styles() if s.card.kind in ("generator", "adain")]
    assert any(s.card.kind == "adain" for s in styles)
    for style in styles:
        runner = create_runner("onnxruntime", style.model, CPU, "fp32")
        entry = style.kind.base_of(style.card) or style.id
        assert runner.shipped, (
            f"{style.id}: its model.onnx is stale or missing: `artem models export-onnx {entry} "
            "--models-dir artem_server/builtin_models`"
        )
        assert max_diff(style.model, runner) < TOLERANCE, style.id


def test_a_stale_graph_is_exported_over_and_export_onnx_remakes_it(tmp_path, caplog):
    """New weights beside an old model.onnx: the backend logs it and exports the module (the
    output is the new weights'); `artem models export-onnx` writes a current graph."""
    shutil.copytree(BUILTIN_DIR / "nocturne", tmp_path / "nocturne")
    entry = read_entry(tmp_path / "nocturne")
    weights = entry.load_weights()
    weights["deconv3.conv2d.bias"] = weights["deconv3.conv2d.bias"] + 20.0
    card = ModelCard(**{**entry.card.__dict__})
    onnx_old = (tmp_path / "nocturne" / ONNX_FILE).read_bytes()
    write_entry(tmp_path, card, weights, overwrite=True, files={ONNX_FILE: onnx_old})

    def load():
        e = read_entry(tmp_path / "nocturne")
        return kind_of(e.card).load(e)

    model = load()
    with caplog.at_level(logging.WARNING, logger="artem_server.models.onnx_shipped"):
        runner = create_runner("onnxruntime", model, CPU, "fp32")
    assert not runner.shipped
    assert any("not exported from these weights" in r.getMessage() for r in caplog.records)
    assert max_diff(model, runner) < TOLERANCE

    done = export_onnx(tmp_path, "nocturne")
    assert done.returncode == 0, done.stderr
    assert f"wrote {tmp_path / 'nocturne' / ONNX_FILE}" in done.stdout
    model = load()
    runner = create_runner("onnxruntime", model, CPU, "fp32")
    assert runner.shipped and max_diff(model, runner) < TOLERANCE


def test_export_onnx_refuses_what_has_no_graph(tmp_path):
    shutil.copytree(BUILTIN_DIR / "swirl", tmp_path / "swirl")
    for args, expected in [
        (["swirl"], "style of adain model 'adain-lite'"),
        (["absent"], "no entry 'absent'"),
        ([], "name entries or give --all"),
    ]:
        done = export_onnx(tmp_path, *args, timeout=120)
        assert done.returncode != 0 and expected in done.stderr, (args, done.stderr)


def test_builtin_models_stay_small():
    """The wheel carries every built-in entry: keep them far under its 60 MB budget."""
    total = sum(p.stat().st_size for p in BUILTIN_DIR.rglob("*") if p.is_file())
    assert total < 45e6, f"built-in models are {total / 1e6:.1f} MB"


@pytest.mark.parametrize("kernel,c_in,c_out", [(9, 16, 3), (3, 8, 3), (5, 4, 1)])
def test_the_subpixel_output_conv_is_the_same_function(kernel, c_in, c_out):
    """The exported form of a few-channel output conv computes what the ConvLayer computes."""
    from artem_server.models.generator import ConvLayer
    from artem_server.models.onnx_export import SubpixelConv

    torch.manual_seed(kernel)
    layer = ConvLayer(c_in, c_out, kernel, 1).eval()
    assert SubpixelConv.suits(layer)
    x = torch.randn(2, c_in, 20, 28)
    with torch.no_grad():
        torch.testing.assert_close(SubpixelConv(layer)(x), layer(x), atol=1e-4, rtol=1e-4)
    assert not SubpixelConv.suits(ConvLayer(c_in, 16, kernel, 1))  # full blocks: left as is


def test_a_narrow_generator_exports_at_its_frame_size():
    """A width-4 generator's upsampling convs have 4 outputs too; exporting them in the
    sub-pixel form dropped their x2 upsampling and the graph gave half-size frames."""
    import onnxruntime as ort

    from artem_server.models.generator import Generator, GeneratorConfig
    from artem_server.models.onnx_export import export_onnx

    torch.manual_seed(4)
    net = Generator(GeneratorConfig(width=4, res_blocks=1)).eval()
    session = ort.InferenceSession(export_onnx(net), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, 40, 48) * 255
    (y,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        want = net(x).numpy()
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, atol=1e-3)


def test_a_graph_written_beside_a_loaded_style_is_picked_up(tmp_path):
    """`artem models export-onnx` on a served models directory: the registry's next look
    reloads the style, and its new runner serves the graph."""
    shutil.copytree(BUILTIN_DIR / "umber", tmp_path / "mine")
    card = ModelCard.read(tmp_path / "mine" / "card.json")
    (tmp_path / "mine" / ONNX_FILE).unlink()
    (tmp_path / "mine" / "card.json").write_text(
        ModelCard(**{**card.__dict__, "name": "mine"}).to_json()
    )
    registry = Registry(tmp_path, builtin_dir=None)
    before = registry.get("mine").model
    assert kind_of(card).shipped_graph(before) is None
    done = export_onnx(tmp_path, "--all")
    assert done.returncode == 0, done.stderr
    registry.refresh()
    after = registry.get("mine").model
    assert after is not before
    assert create_runner("onnxruntime", after, CPU, "fp32").shipped
