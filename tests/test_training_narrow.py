"""A slimmer decoder (model.edge_width, model.up_width) and starting it from a wider trained
generator (trainer.init_narrowed): what the shipped painting styles' last recipe,
experiment=painting_slim, does."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from artem_training.errors import ConfigError
from artem_training.narrow import narrow_state
from artem_training.train import train
from test_training import compose_cfg, tiny

from artem_server.models.generator import Generator, GeneratorConfig
from artem_server.models.loading import load_model
from artem_server.models.store import read_entry


def test_decoder_widths_shape_the_net_and_round_trip_through_the_card() -> None:
    cfg = GeneratorConfig(width=16, res_blocks=3, antialias=True, edge_width=6, up_width=12)
    net = Generator(cfg)
    assert net.conv1.conv2d.out_channels == 6 and net.deconv3.conv2d.in_channels == 6
    assert net.deconv1.conv2d.out_channels == 12 and net.res1.conv1.conv2d.in_channels == 64
    assert net(torch.rand(1, 3, 32, 40) * 255).shape == (1, 3, 32, 40)
    assert GeneratorConfig.from_dict(cfg.to_dict()) == cfg
    # cards written before the options keep their exact architecture dict
    assert GeneratorConfig(16, 3, True).to_dict() == {
        "width": 16,
        "res_blocks": 3,
        "antialias": True,
    }


def test_narrowing_keeps_the_channels_that_reach_the_next_layer() -> None:
    torch.manual_seed(0)
    wide = Generator(GeneratorConfig(width=8, res_blocks=1))
    with torch.no_grad():  # make edge channels 2 and 5 (of 8) the only ones that reach conv2
        wide.in1.weight.fill_(0.0)
        wide.in1.bias.fill_(0.0)
        wide.in1.weight[[2, 5]] = 1.0
    slim = Generator(GeneratorConfig(width=8, res_blocks=1, edge_width=2, up_width=4))
    state = narrow_state(wide.state_dict(), slim)
    slim.load_state_dict(state)
    torch.testing.assert_close(slim.conv1.conv2d.weight, wide.conv1.conv2d.weight[[2, 5]])
    torch.testing.assert_close(slim.conv2.conv2d.weight, wide.conv2.conv2d.weight[:, [2, 5]])
    torch.testing.assert_close(slim.res1.conv1.conv2d.weight, wide.res1.conv1.conv2d.weight)
    # so the encoder computes what the wide one did
    x = torch.rand(1, 3, 32, 32) * 255
    torch.testing.assert_close(
        slim.in3(slim.conv3(slim.in2(slim.conv2(slim.in1(slim.conv1(x)).relu())).relu())),
        wide.in3(wide.conv3(wide.in2(wide.conv2(wide.in1(wide.conv1(x)).relu())).relu())),
    )


def test_narrowing_refuses_to_grow_or_a_net_of_another_kind() -> None:
    slim = Generator(GeneratorConfig(width=8, res_blocks=1, edge_width=4))
    wider = Generator(GeneratorConfig(width=8, res_blocks=1, edge_width=6))
    with pytest.raises(ConfigError, match=r"trainer\.init_narrowed.*in1 would grow from 4 to 6"):
        narrow_state(slim.state_dict(), wider)
    with pytest.raises(ConfigError, match=r"trainer\.init_narrowed.*conv1\.conv2d\.weight"):
        narrow_state({"decoder.0.weight": torch.zeros(1)}, slim)


def test_a_narrowed_fine_tune_starts_from_the_wide_entry_and_says_so(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random-VGG fallback warns without ImageNet weights
        base = train(tiny(tmp_path / "base"))
        width = base.model.config.width
        result = train(
            tiny(
                tmp_path / "slim",
                f"model.edge_width={width // 2}",
                f"model.up_width={width}",
                "trainer.init_narrowed=true",
                f"trainer.init_weights={base.entry.path}",
                "trainer.steps=1",
            )
        )
    entry = read_entry(result.entry.path)
    assert entry.card.architecture["edge_width"] == width // 2
    assert "narrowed" in entry.card.notes and str(base.entry.path) in entry.card.notes
    net = load_model(entry)  # the registry rebuilds the slim net from its card
    assert net.conv1.conv2d.out_channels == width // 2
    # the residual blocks started from the base's (one Adam step at the debug rate)
    delta = (net.res1.conv1.conv2d.weight - base.model.res1.conv1.conv2d.weight.detach()).abs()
    assert 0 < delta.max() < 0.01


def test_without_the_switch_a_wider_entry_is_refused_naming_the_key(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = train(tiny(tmp_path / "base"))
        with pytest.raises(ConfigError, match=r"trainer\.init_weights.*does not fit"):
            train(
                tiny(
                    tmp_path / "slim",
                    "model.edge_width=2",
                    f"trainer.init_weights={base.entry.path}",
                    "trainer.steps=1",
                )
            )


def test_the_slim_recipe_narrows_the_shipped_entry() -> None:
    cfg = compose_cfg(["experiment=painting_slim", "teacher.style=19", "export.name=nocturne"])
    assert cfg.trainer.init_narrowed and cfg.model.antialias and cfg.consistency.weight > 0
    assert cfg.model.edge_width < cfg.model.width and cfg.model.up_width < 2 * cfg.model.width
    assert cfg.trainer.init_weights.endswith("/nocturne") and cfg.export.overwrite


def test_the_fast_adain_net_narrows_with_its_head_rows() -> None:
    """The fast adain net's norms take scale and shift from the head: narrowing keeps the
    chosen channels' head rows with them. Narrowed to its own widths it is the same net; to a
    slim decoder it loads and runs."""
    from artem_training.narrow import narrow_cin_state

    from artem_server.models.adain_cin import CINConfig, CINNet, CINStylizer

    torch.manual_seed(0)
    config = CINConfig(width=8, res_blocks=1, predictor_width=4, predictor_size=32)
    wide = CINNet(config).eval()
    with torch.no_grad():
        wide.head.weight.normal_()
        wide.head.bias.normal_()
    same = CINNet(config).eval()
    same.load_state_dict(narrow_cin_state(wide.state_dict(), same))
    x, v = torch.rand(1, 3, 32, 32) * 255, torch.randn(100)
    with torch.no_grad():
        torch.testing.assert_close(CINStylizer(same, v)(x), CINStylizer(wide, v)(x))
    slim = CINNet(CINConfig(8, 1, True, 100, 4, 32, edge_width=3, up_width=5)).eval()
    slim.load_state_dict(narrow_cin_state(wide.state_dict(), slim))
    assert slim.generator.conv1.conv2d.out_channels == 3 and slim.sizes[-2:] == [5, 3]
    with torch.no_grad():
        assert CINStylizer(slim, v)(x).shape == x.shape
    with pytest.raises(ConfigError, match=r"in1 would grow from 3 to 8"):
        narrow_cin_state(slim.state_dict(), CINNet(config))
