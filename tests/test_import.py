"""Importing pytorch/examples checkpoints: modern and 2017 files, against an independent
reference computation written from the published layer table (peer-models.md section 1)."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from conftest import random_generator

from artem_server.models.importers import CheckpointError, import_generator
from artem_server.models.loading import load_model
from artem_server.models.store import EntryExists, read_entry


def reference_transformer_net(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """fast_neural_style's TransformerNet as plain functions of its state dict: reflection pad +
    conv, instance norm (biased variance, eps 1e-5, affine), nearest x2 upsampling."""

    def conv(name, y, stride=1, upsample=False):
        if upsample:
            y = F.interpolate(y, scale_factor=2, mode="nearest")
        w = sd[f"{name}.conv2d.weight"]
        y = F.pad(y, [w.shape[-1] // 2] * 4, mode="reflect")
        return F.conv2d(y, w, sd[f"{name}.conv2d.bias"], stride=stride)

    def inorm(name, y):
        mean = y.mean(dim=(2, 3), keepdim=True)
        var = y.var(dim=(2, 3), keepdim=True, unbiased=False)
        y = (y - mean) / torch.sqrt(var + 1e-5)
        return (
            y * sd[f"{name}.weight"][None, :, None, None] + sd[f"{name}.bias"][None, :, None, None]
        )

    y = torch.relu(inorm("in1", conv("conv1", x)))
    y = torch.relu(inorm("in2", conv("conv2", y, 2)))
    y = torch.relu(inorm("in3", conv("conv3", y, 2)))
    blocks = sorted({int(k.split(".")[0][3:]) for k in sd if k.startswith("res")})
    for b in blocks:
        r = torch.relu(inorm(f"res{b}.in1", conv(f"res{b}.conv1", y)))
        y = inorm(f"res{b}.in2", conv(f"res{b}.conv2", r)) + y
    y = torch.relu(inorm("in4", conv("deconv1", y, upsample=True)))
    y = torch.relu(inorm("in5", conv("deconv2", y, upsample=True)))
    return conv("deconv3", y)


def peer_state_dict(seed: int = 11, legacy: bool = False) -> OrderedDict:
    """A full-size (width 32, 5 blocks) state dict in the peer's key order; `legacy` adds the
    InstanceNorm running statistics that 2017 files carry."""
    from artem_server.models.generator import GeneratorConfig

    sd = OrderedDict(random_generator(seed, GeneratorConfig()).state_dict())
    if legacy:
        for key in [k for k in sd if k.split(".")[-2].startswith("in") and k.endswith(".weight")]:
            prefix = key[: -len(".weight")]
            sd[f"{prefix}.running_mean"] = torch.zeros_like(sd[key])
            sd[f"{prefix}.running_var"] = torch.ones_like(sd[key])
    return sd


@pytest.mark.parametrize("legacy", [False, True], ids=["modern-pth", "legacy-2017-model"])
def test_import_matches_reference(tmp_path, photo, legacy):
    sd = peer_state_dict(legacy=legacy)
    assert len(sd) == (92 if legacy else 62)
    path = tmp_path / ("mosaic.model" if legacy else "mosaic.pth")
    torch.save(sd, path)
    entry, dropped = import_generator(path, "mosaic", tmp_path / "models")
    assert len(dropped) == (30 if legacy else 0)
    assert (entry.path / "weights.safetensors").stat().st_size < 3_600_000  # fp16 on disk
    net = load_model(read_entry(entry.path))
    x = torch.from_numpy(photo[:96, :128].copy()).permute(2, 0, 1)[None].float()
    with torch.inference_mode():
        ours = net(x)
        ref = reference_transformer_net({k: v.half().float() for k, v in sd.items()}, x)
    # Same fp16-rounded weights: equal to within float rounding, far below one 8-bit level.
    assert torch.allclose(ours, ref, atol=0.05, rtol=1e-4), (ours - ref).abs().max()
    assert (ours - x).abs().mean() > 10


def test_unexpected_and_missing_keys_are_listed(tmp_path):
    sd = peer_state_dict()
    sd.pop("res2.conv1.conv2d.bias")
    sd["res2.extra.weight"] = torch.zeros(3)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as e:
        import_generator(tmp_path / "bad.pth", "bad", tmp_path / "models")
    msg = str(e.value)
    assert (
        "missing keys ['res2.conv1.conv2d.bias']" in msg
        and "unexpected keys ['res2.extra.weight']" in msg
    )
    assert not (tmp_path / "models" / "bad").exists()


def test_wrong_kind_of_file_says_so(tmp_path):
    torch.save(
        {"1.weight": torch.zeros(256, 512, 3, 3)}, tmp_path / "decoder.pth"
    )  # AdaIN's decoder
    with pytest.raises(CheckpointError, match="not a fast_neural_style TransformerNet checkpoint"):
        import_generator(tmp_path / "decoder.pth", "x", tmp_path / "models")
    (tmp_path / "junk.pth").write_bytes(os.urandom(1000))
    with pytest.raises(CheckpointError, match="not a PyTorch state dict"):
        import_generator(tmp_path / "junk.pth", "x", tmp_path / "models")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickled_code_is_refused_not_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "evil.pth", "wb") as f:
        pickle.dump({"conv1.conv2d.weight": _Exploit()}, f)
    with pytest.raises(CheckpointError):
        import_generator(tmp_path / "evil.pth", "evil", tmp_path / "models")
    assert not (tmp_path / "PWNED").exists()


def test_existing_entry_is_kept_unless_forced(tmp_path):
    torch.save(peer_state_dict(1), tmp_path / "a.pth")
    torch.save(peer_state_dict(2), tmp_path / "b.pth")
    models = tmp_path / "models"
    first, _ = import_generator(tmp_path / "a.pth", "style", models)
    before = (first.path / "weights.safetensors").read_bytes()
    with pytest.raises(EntryExists):
        import_generator(tmp_path / "b.pth", "style", models)
    assert (first.path / "weights.safetensors").read_bytes() == before
    import_generator(tmp_path / "b.pth", "style", models, overwrite=True)
    assert (first.path / "weights.safetensors").read_bytes() != before
    assert sorted(p.name for p in models.iterdir()) == ["style"], "no staging folders left behind"


def test_names_cannot_leave_the_models_dir(tmp_path):
    torch.save(peer_state_dict(), tmp_path / "a.pth")
    for name in ("../escape", "a/b", ".hidden", "", "UPPER"):
        with pytest.raises(ValueError, match="not a valid style name"):
            import_generator(tmp_path / "a.pth", name, tmp_path / "models")
    assert not (tmp_path / "escape").exists()
