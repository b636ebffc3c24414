"""AdaIN: importing pytorch-AdaIN's two files and running styles from their cached statistics,
against the independent reference in adain_reference.py (random weights in the peer's layout)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from adain_reference import (
    peer_decoder_state_dict,
    peer_encoder_state_dict,
    ref_decode,
    ref_encode,
    ref_style_transfer,
)
from test_import import peer_state_dict

from artem_server.models.adain_import import import_adain
from artem_server.models.adain_store import load_adain_model, load_adain_style, write_adain_style
from artem_server.models.adain_style import AdaINStylizer, blend, compute_style_stats, luma
from artem_server.models.importers import CheckpointError
from artem_server.models.store import read_entry
from artem_server.registry import Registry


def to01(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def peer_files(tmp_path_factory):
    """pytorch-AdaIN's two files as published: a 53-module encoder and the width-64 decoder."""
    root = tmp_path_factory.mktemp("peer")
    enc, dec = peer_encoder_state_dict(3), peer_decoder_state_dict(4)
    assert len(enc) == 34 and max(int(k.split(".")[0]) for k in enc) == 51  # 53 modules, 17 convs
    torch.save(enc, root / "vgg_normalised.pth")
    torch.save(dec, root / "decoder.pth")
    return root, enc, dec


@pytest.fixture(scope="module")
def imported(peer_files):
    root, enc, dec = peer_files
    entry = import_adain(
        [root / "vgg_normalised.pth", root / "decoder.pth"], "peer", root / "models"
    )
    return load_adain_model(read_entry(entry.path)), enc, dec


def test_import_then_style_equals_the_peer(imported, photo):
    """Same weights, same inputs: our output is the peer's (unbiased var + 1e-5, 0..1 in and
    out) to within rounding, with the style at its own size."""
    model, enc, dec = imported
    content, style = photo[40:104, 120:200], photo[200:250, 10:80]  # 64x80 content, 50x70 style
    with torch.inference_mode():
        ref = ref_style_transfer(enc, dec, to01(content), [to01(style)]) * 255
        ours = AdaINStylizer(model.net, compute_style_stats(model.net, style))(to01(content) * 255)
    assert ref.std() > 5, "the reference output must not be flat"
    assert (ours - ref).abs().max() < 0.05  # far below one 8-bit level
    q = lambda t: t.clamp(0, 255).round()  # noqa: E731
    assert (q(ours) - q(ref)).abs().max() <= 1


def test_alpha_and_fractional_mix_equal_the_peer(imported, photo):
    model, enc, dec = imported
    content = photo[100:164, 100:164]
    styles = [photo[300:360, 300:380], photo[0:48, 400:470]]
    stats = [compute_style_stats(model.net, s) for s in styles]
    with torch.inference_mode():
        for weights, alpha in (([0.3, 0.7], 1.0), ([2.0, 1.0], 0.5), ([1.0, 0.0], 0.25)):
            ref = (
                ref_style_transfer(
                    enc, dec, to01(content), [to01(s) for s in styles], weights, alpha
                )
                * 255
            )
            mixed = blend(list(zip(stats, weights)))
            ours = AdaINStylizer(model.net, mixed, alpha)(to01(content) * 255)
            assert (ours - ref).abs().max() < 0.05, (weights, alpha)


def test_alpha_zero_is_the_decoders_reconstruction(imported, photo):
    model, enc, dec = imported
    content = photo[10:74, 10:90]
    with torch.inference_mode():
        recon = ref_decode(dec, ref_encode(enc, to01(content))) * 255
        ours = AdaINStylizer(model.net, compute_style_stats(model.net, photo[300:400, 0:100]), 0.0)(
            to01(content) * 255
        )
        styled = AdaINStylizer(
            model.net, compute_style_stats(model.net, photo[300:400, 0:100]), 1.0
        )(to01(content) * 255)
    assert (ours - recon).abs().max() < 0.05
    assert (styled - recon).abs().mean() > 1, "alpha 1 must differ from the reconstruction"


def test_odd_sizes_crop_back_like_ceil_mode(imported, photo):
    """Sizes that are not multiples of 8 decode to 8*ceil and come back at the input's size."""
    model, enc, dec = imported
    content = photo[0:37, 0:45]
    with torch.inference_mode():
        ref = (
            ref_style_transfer(enc, dec, to01(content), [to01(photo[60:100, 60:100])])[
                ..., :37, :45
            ]
            * 255
        )
        ours = AdaINStylizer(model.net, compute_style_stats(model.net, photo[60:100, 60:100]))(
            to01(content) * 255
        )
    assert ours.shape == (1, 3, 37, 45) and (ours - ref).abs().max() < 0.05


def test_preserve_color_keeps_the_contents_chroma(imported, photo):
    model, _, _ = imported
    content = to01(photo[100:164, 150:214]) * 255
    stats = compute_style_stats(model.net, photo[300:380, 300:380])
    with torch.inference_mode():
        kept = AdaINStylizer(model.net, stats, preserve_color=True)(content)
        free = AdaINStylizer(model.net, stats)(content)

    def chroma(x: torch.Tensor) -> torch.Tensor:
        return x - luma(x)  # R-Y, G-Y, B-Y: what adding one value to all channels leaves alone

    assert (chroma(kept) - chroma(content)).abs().max() < 1e-3
    assert (luma(kept) - luma(content)).abs().mean() > 1, (
        "the style must still change the luminance"
    )
    assert (chroma(free) - chroma(content)).abs().mean() > 5 * (
        chroma(kept) - chroma(content)
    ).abs().mean()


def test_per_frame_cost_excludes_the_style(imported, photo):
    """A frame runs the encoder once on the frame alone, whatever the number of mixed styles:
    their statistics were computed when they were added."""
    model, _, _ = imported
    stats = [compute_style_stats(model.net, photo[i * 50 : i * 50 + 64, 0:64]) for i in range(3)]
    calls: list[tuple] = []
    hook = model.net.encoder.register_forward_hook(
        lambda m, args, out: calls.append(tuple(args[0].shape))
    )
    try:
        runner = AdaINStylizer(
            model.net, blend([(s, 1.0) for s in stats]), 0.8, preserve_color=True
        )
        with torch.inference_mode():
            for _ in range(2):
                runner(torch.rand(2, 3, 48, 64) * 255)
    finally:
        hook.remove()
    assert calls == [(2, 3, 48, 64)] * 2


def test_swapped_files_import_and_give_the_same_model(peer_files, imported):
    root, _, _ = peer_files
    entry = import_adain(
        [root / "decoder.pth", root / "vgg_normalised.pth"], "swapped", root / "models"
    )
    swapped = load_adain_model(read_entry(entry.path))
    assert swapped.digest == imported[0].digest
    for a, b in zip(swapped.net.state_dict().values(), imported[0].net.state_dict().values()):
        assert torch.equal(a, b)
    assert "decoder first" in entry.card.notes


@pytest.mark.parametrize(
    "pair, says",
    [
        (
            ("decoder.pth", "decoder.pth"),
            ["decoder.pth is a pytorch-AdaIN decoder", "expected the encoder"],
        ),
        (
            ("vgg_normalised.pth", "vgg_normalised.pth"),
            ["is a pytorch-AdaIN encoder (53 modules)", "decoder.pth"],
        ),
        (("vgg_normalised.pth", "candy.pth"), ["candy.pth is a fast_neural_style generator"]),
        (("vgg_normalised.pth",), ["two files", "got 1"]),
    ],
)
def test_wrong_pairs_say_what_each_file_is(peer_files, pair, says):
    root, _, _ = peer_files
    torch.save(peer_state_dict(1), root / "candy.pth")
    with pytest.raises(CheckpointError) as e:
        import_adain([root / p for p in pair], "bad", root / "models")
    for s in says:
        assert s in str(e.value)
    assert "Missing key" not in str(e.value) and not (root / "models" / "bad").exists()


def test_truncated_decoder_names_the_missing_keys(peer_files, tmp_path):
    root, _, dec = peer_files
    short = {k: v for k, v in dec.items() if not k.startswith("25.")}
    torch.save(short, tmp_path / "decoder.pth")
    with pytest.raises(CheckpointError, match=r"decoder.*missing keys \['25.bias', '25.weight'\]"):
        import_adain(
            [root / "vgg_normalised.pth", tmp_path / "decoder.pth"], "bad", tmp_path / "models"
        )


def test_registry_loads_styles_onto_their_model_and_refuses_a_changed_encoder(
    imported, peer_files, photo, tmp_path
):
    model, _, _ = imported
    root, enc, dec = peer_files
    models = tmp_path / "models"
    import_adain([root / "vgg_normalised.pth", root / "decoder.pth"], "peer", models)
    write_adain_style(
        models,
        "blue",
        model,
        compute_style_stats(model.net, photo[0:64, 0:64]),
        (64, 64),
        source="test",
    )
    reg = Registry(models, builtin_dir=None)
    assert "blue" in reg.ids() and "peer" not in reg.ids(), "a model is not a style"
    assert [m.name for m in reg.bases()] == ["peer"]
    assert reg.get("blue").model.net is reg.base("peer").net
    # Another encoder under the same model name: the style's statistics no longer fit.
    enc2 = peer_encoder_state_dict(99)
    torch.save(enc2, tmp_path / "vgg2.pth")
    import_adain([tmp_path / "vgg2.pth", root / "decoder.pth"], "peer", models, overwrite=True)
    fresh = Registry(models, builtin_dir=None)
    assert "blue" not in fresh.ids() and "peer" in [m.name for m in fresh.bases()]


def test_a_style_waits_for_its_model(imported, peer_files, photo, tmp_path):
    model, _, _ = imported
    root, _, _ = peer_files
    models = tmp_path / "models"
    write_adain_style(
        models,
        "early",
        model,
        compute_style_stats(model.net, photo[0:64, 0:64]),
        (64, 64),
        source="test",
    )
    reg = Registry(models, builtin_dir=None)
    assert "early" not in reg.ids()
    import_adain([root / "vgg_normalised.pth", root / "decoder.pth"], "peer", models)
    assert "early" in reg.refresh() and "early" in reg.ids()
    style = load_adain_style(read_entry(models / "early"), reg.base("peer"))
    assert torch.equal(style.stats.mean, reg.get("early").model.stats.mean)


def test_the_shipped_adain_model_and_its_styles(photo):
    """artem_server/builtin_models: adain-lite (trained by artem-train experiment=adain_default)
    with swirl and stained-glass. Its card says what it is; it is not collapsed (a run that
    diverged drew one flat colour); the content's layout shows through; the styles differ."""
    from artem_server.registry import BUILTIN_DIR

    reg = Registry(None)
    model = reg.base("adain-lite")
    assert model.net.config.decoder_width == 32 and "random-weight VGG-19" in model.card.notes
    assert "experiment=adain_default" in model.card.made_by["command"]
    assert (BUILTIN_DIR / "adain-lite" / "weights.safetensors").stat().st_size < 10_000_000  # fp16
    styles = [reg.get(s) for s in ("swirl", "stained-glass")]
    assert all(
        s.origin == "builtin" and s.card.architecture["model"] == "adain-lite" for s in styles
    )
    x = to01(photo[::2, ::2]) * 255
    with torch.inference_mode():
        out = [s.model(x) for s in styles]

    def edges(t: torch.Tensor) -> torch.Tensor:  # where the picture changes, 8x8 blocks
        y = luma(t)
        g = (y[..., 1:, :-1] - y[..., :-1, :-1]).abs() + (y[..., :-1, 1:] - y[..., :-1, :-1]).abs()
        return torch.nn.functional.avg_pool2d(g, 8).flatten()

    for y in out:  # measured: 0.40 and 0.41; a random input's output against the photo: 0.03
        assert y.shape == x.shape and y.std() > 20
        assert torch.corrcoef(torch.stack([edges(x), edges(y)]))[0, 1] > 0.25
    assert (out[0] - out[1]).abs().mean() > 5
