"""artem-train's model=adain path: the configs compose into AdaIN's groups, a tiny run exports a
model and its styles that the server loads, bad values fail early naming their key, and the
encoder loads the peer's and torchvision's layouts."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from adain_reference import peer_encoder_state_dict
from artem_training.adain_encoder import TORCHVISION_TO_PEER, build_adain_encoder
from artem_training.errors import ConfigError
from artem_training.kinds.adain import adain_losses
from artem_training.train import train
from test_training import compose_cfg

from artem_server.models.adain import TAPS, AdaINNet, mean_std
from artem_server.registry import Registry


def tiny(tmp_path: Path, *extra: str):
    return compose_cfg(
        ["model=adain", "debug=adain", f"paths.output_dir={tmp_path / 'run'}", *extra]
    )


def test_model_adain_picks_adains_groups_and_the_command_line_still_wins():
    cfg = compose_cfg(["model=adain"])
    assert cfg.model._target_ == "artem_server.models.adain.AdaINConfig"
    assert cfg.loss.content_layer == "relu4_1" and list(cfg.loss.style_layers) == list(TAPS)
    assert cfg.style._target_.endswith("GeneratedStyles") and cfg.trainer.lr == 1.0e-4
    assert cfg.trainer.batch_size == 8 and cfg.trainer.steps == 160000  # pytorch-AdaIN's recipe
    assert compose_cfg(["model=adain", "style=folder"]).style._target_.endswith("FolderStyles")
    assert compose_cfg([]).loss.content_layer == "relu2_2", "the generator's defaults are untouched"


def test_default_adain_experiment_is_the_shipped_recipe():
    cfg = compose_cfg(["experiment=adain_default"])
    assert cfg.export.name == "adain-lite" and cfg.model.decoder_width == 32
    assert [s.name for s in cfg.export.styles] == ["swirl", "stained-glass"]
    assert cfg.export.models_dir == "artem_server/builtin_models"


def test_pytorch_adain_experiment_is_the_peers_recipe_and_needs_imagenet_weights(
    tmp_path: Path, monkeypatch
):
    cfg = compose_cfg(
        [
            "experiment=pytorch_adain",
            f"data.content_dir={tmp_path}",
            f"style.style_dir={tmp_path}",
            f"paths.output_dir={tmp_path / 'run'}",
            "export.name=adain-wikiart",
        ]
    )
    t, loss = cfg.trainer, cfg.loss
    assert cfg.model.decoder_width == 64 and cfg.style._target_.endswith("FolderStyles")
    assert cfg.data._target_.endswith("FolderImages") and not loss.random_fallback.enabled
    assert (t.steps, t.batch_size, t.image_size, t.lr, t.lr_decay, t.checkpoint_every) == (
        160000,
        8,
        256,
        1e-4,
        5e-5,
        10000,
    )
    assert (loss.content_weight, loss.style_weight, list(loss.style_layers)) == (
        1.0,
        10.0,
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1"],
    )
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no VGG-19 there
    with pytest.raises(ConfigError, match=r"loss\.encoder"):
        train(cfg)
    assert not (tmp_path / "run" / "models").exists()


def test_tiny_adain_run_exports_a_model_and_styles_the_server_loads(tmp_path: Path):
    styles = (
        "+export.styles=[{name: dots, image: 'builtin:mosaic', seed: 5, size: 48}, "
        "{name: lines, image: 'builtin:strokes', seed: 6, size: 40}]"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-encoder fallback warns without VGG-19 weights
        result = train(tiny(tmp_path, styles, "loss.pixel_warmup_steps=1"))
    assert result.entry.card.kind == "adain" and result.entry.card.architecture["role"] == "model"
    assert (
        "random-weight VGG-19" in result.entry.card.notes and "width 4" in result.entry.card.notes
    )
    assert [e.name for e in result.extra_entries] == ["dots", "lines"]
    assert result.sample_grid.is_file() and len(result.checkpoints) == 1
    ckpt = torch.load(result.checkpoints[0], weights_only=True)
    assert ckpt["step"] == 2 and "1.weight" in ckpt["decoder"]
    reg = Registry(tmp_path / "run" / "models", builtin_dir=None)
    assert set(reg.ids()) == {"identity", "dots", "lines"} and [m.name for m in reg.bases()] == [
        "debug-adain"
    ]
    x = torch.rand(1, 3, 32, 40) * 255
    with torch.inference_mode():
        y = reg.get("dots").model(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert result.metrics["steps"] == 3 and result.metrics["style_loss"] > 0


@pytest.mark.parametrize(
    "override, key",
    [
        ("loss.content_layer=relu3_1", "loss.content_layer"),
        ("loss.style_layers=[relu9_9]", "loss.style_layers"),
        ("loss.encoder=/no/such/vgg.pth", "loss.encoder"),
        ("trainer.image_size=60", "trainer.image_size"),
        ("model.decoder_width=0", "model.decoder_width"),
        ("style.kinds=[nonesuch]", "style.kinds"),
        ("export.name=Not/A/Name", "export.name"),
        ("+export.styles=[{name: BAD, image: 'builtin:mosaic'}]", "export.styles[0].name"),
    ],
)
def test_bad_value_fails_before_training_naming_the_key(tmp_path: Path, override: str, key: str):
    with pytest.raises(
        ConfigError, match=key.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")
    ):
        train(tiny(tmp_path, override))
    assert not (tmp_path / "run" / "models").exists()


def test_generator_presets_with_adain_say_what_to_use(tmp_path: Path):
    with pytest.raises(ConfigError, match="debug=adain"):
        train(compose_cfg(["model=adain", "debug=default", f"paths.output_dir={tmp_path}"]))
    with pytest.raises(ConfigError, match="style=generated"):
        train(
            compose_cfg(
                ["model=adain", "debug=adain", "style=mosaic", f"paths.output_dir={tmp_path}"]
            )
        )


def test_encoder_loads_the_peers_and_torchvisions_layouts(tmp_path: Path):
    peer = peer_encoder_state_dict(2)
    torch.save(peer, tmp_path / "vgg_normalised.pth")
    enc, described, pretrained = build_adain_encoder(str(tmp_path / "vgg_normalised.pth"), 0, False)
    assert pretrained and "pytorch-AdaIN" in described
    assert torch.equal(enc[29].weight, peer["29.weight"]) and torch.equal(
        enc[0].bias, peer["0.bias"]
    )
    tv = {
        f"features.{i}.{p}": torch.randn(4) for i in TORCHVISION_TO_PEER for p in ("weight", "bias")
    }
    net = AdaINNet()
    for i, ours in TORCHVISION_TO_PEER.items():  # shapes from our encoder, values random
        tv[f"features.{i}.weight"] = torch.randn_like(net.encoder[ours].weight)
        tv[f"features.{i}.bias"] = torch.randn_like(net.encoder[ours].bias)
    tv["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(tv, tmp_path / "vgg19-dcbb9e9d.pth")
    enc, described, _ = build_adain_encoder(str(tmp_path / "vgg19-dcbb9e9d.pth"), 0, False)
    assert "torchvision" in described
    for i, ours in TORCHVISION_TO_PEER.items():
        assert torch.equal(enc[ours].weight, tv[f"features.{i}.weight"])
    x = torch.rand(1, 3, 4, 4)  # conv 0 does torchvision's normalisation
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )
    torch.testing.assert_close(enc[0](x), (x - mean) / std)
    with pytest.raises(FileNotFoundError):
        build_adain_encoder("/no/such/file.pth", 0, True)


def test_style_loss_grows_away_from_the_targets_statistics():
    torch.manual_seed(0)
    net = AdaINNet().eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        feats = net.features(x, list(TAPS))
    s_mean = {k: mean_std(v)[0].flatten(1) for k, v in feats.items()}
    s_std = {k: mean_std(v)[1].flatten(1) for k, v in feats.items()}
    content, style, _ = adain_losses(net, x, s_mean, s_std, list(TAPS))
    assert content > 0 and style > 0
    # MSE of the means: shifting a tap's target means by +1 and by -1 adds exactly 1 on average
    # (relu4_1 stays: it also sets the AdaIN target, hence the drawing).
    shift = lambda d: {k: v + d * (k != "relu4_1") for k, v in s_mean.items()}  # noqa: E731
    up = adain_losses(net, x, shift(1.0), s_std, list(TAPS))[1]
    down = adain_losses(net, x, shift(-1.0), s_std, list(TAPS))[1]
    torch.testing.assert_close((up + down) / 2, style + len(TAPS) - 1, rtol=1e-4, atol=1e-4)


def test_resume_goes_on_exactly_where_a_checkpoint_left_off(tmp_path: Path):
    """Across the switch from the pixel warm-up to the AdaIN losses: same weights as one run."""
    steps = ["trainer.steps=4", "loss.pixel_warmup_steps=2", "trainer.checkpoint_every=2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = train(tiny(tmp_path / "a", *steps))
        resumed = train(tiny(tmp_path / "b", *steps, f"trainer.resume={whole.checkpoints[0]}"))
    assert resumed.metrics["resumed_at"] == 2 and whole.metrics["resumed_at"] == 0
    for (key, a), b in zip(
        whole.model.decoder.state_dict().items(), resumed.model.decoder.state_dict().values()
    ):
        torch.testing.assert_close(a, b, msg=key)
    with pytest.raises(ConfigError, match=r"trainer\.resume"):
        train(tiny(tmp_path / "c", "trainer.resume=/no/such/step.pt"))
