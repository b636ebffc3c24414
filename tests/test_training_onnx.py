"""export.onnx=true: the entry gains a model.onnx that ONNX Runtime runs at any size to the
same pixels the server computes from the entry's weights."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from artem_training.errors import ConfigError
from artem_training.train import train
from test_adain_training import tiny as tiny_adain
from test_training import tiny

from artem_server.models.adain_store import load_adain_model
from artem_server.models.adain_style import AdaINStylizer, StyleStats
from artem_server.models.loading import load_model
from artem_server.models.onnx_export import ONNX_FILE
from artem_server.models.store import read_entry


def _train(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-weight loss network's warning
        return train(cfg)


def _session(entry_path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(entry_path / ONNX_FILE), providers=["CPUExecutionProvider"])


def test_generator_onnx_matches_the_served_model_at_other_sizes(
    tmp_path: Path, photo: np.ndarray
) -> None:
    entry = read_entry(_train(tiny(tmp_path, "export.onnx=true")).entry.path)
    assert "model.onnx: input x float32" in entry.card.notes
    session, served = _session(entry.path), load_model(entry)  # fp16 weights on disk, as served
    for h, w in ((32, 40), (96, 64)):
        x = torch.from_numpy(photo[:h, :w]).permute(2, 0, 1)[None].float().repeat(2, 1, 1, 1)
        y = session.run(["y"], {"x": x.numpy()})[0]
        with torch.inference_mode():
            expected = served(x).numpy()
        assert y.shape == (2, 3, h, w)
        np.testing.assert_allclose(y, expected, atol=0.05)  # 0..255 scale: well under one level


def test_adain_onnx_takes_a_styles_statistics_and_alpha(tmp_path: Path, photo: np.ndarray) -> None:
    styles = "+export.styles=[{name: dots, image: 'builtin:mosaic', seed: 5, size: 48}]"
    result = _train(tiny_adain(tmp_path, styles, "export.onnx=true", "loss.pixel_warmup_steps=1"))
    entry = read_entry(result.entry.path)
    assert "style_mean and style_std" in entry.card.notes
    stats = StyleStats.from_tensors(read_entry(result.extra_entries[0].path).load_weights())
    net = load_adain_model(entry).net
    x = torch.from_numpy(photo[:40, :48]).permute(2, 0, 1)[None].float()
    session = _session(entry.path)
    for alpha in (1.0, 0.4):
        y = session.run(
            ["y"],
            {
                "x": x.numpy(),
                "style_mean": stats.mean.view(1, -1, 1, 1).numpy(),
                "style_std": stats.std.view(1, -1, 1, 1).numpy(),
                "alpha": np.array(alpha, np.float32),
            },
        )[0]
        with torch.inference_mode():
            expected = AdaINStylizer(net, stats, alpha)(x).numpy()
        np.testing.assert_allclose(y, expected, atol=0.05)


def test_onnx_export_without_the_exporter_fails_before_training(
    tmp_path: Path, monkeypatch
) -> None:
    import artem_training.checks as checks

    real = checks.importlib.util.find_spec
    monkeypatch.setattr(
        checks.importlib.util,
        "find_spec",
        lambda name: None if name == "onnxscript" else real(name),
    )
    with pytest.raises(ConfigError, match=r"export\.onnx.*onnxscript"):
        train(tiny(tmp_path, "export.onnx=true"))
    assert not (tmp_path / "run" / "models").exists(), "nothing was trained or exported"
