"""`model.kind: adain`: an AdaIN decoder, from a composed config to an adain model entry
plus the default styles that `export.styles` names.

Recipe: naoto0804/pytorch-AdaIN train.py and its defaults. The encoder is
frozen; per step a batch of content crops is encoded, each crop's relu4_1 features get a random
style's statistics (AdaIN, alpha 1), the decoder draws them, and the drawing is encoded again:
content loss = MSE(relu4_1 of the drawing, the AdaIN target), style loss = sum over the style
taps of MSE of channel means plus MSE of channel stds against the style's. Adam on the decoder,
lr / (1 + lr_decay * step). Unlike the peer, each style image is encoded once (StyleBank).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from artem_server.models.adain import TAPS, AdaINNet, adain, mean_std
from artem_server.models.adain_store import (
    write_adain_model,
)
from artem_server.models.adain_style import AdaINStylizer, compute_style_stats
from artem_server.models.onnx_export import ADAIN_IO, ONNX_FILE, export_adain_onnx

from ..adain_data import StyleBank
from ..adain_encoder import build_adain_encoder, hub_vgg19_path
from ..adain_entries import check_export, export_styles
from ..checks import DEVICES, check_init_weights, check_switches
from ..consistency import check_consistency
from ..data import center_square, to_batch
from ..errors import ConfigError
from ..export import LICENSE_NOTE, as_stored
from ..run import (
    Run,
    RunResult,
    build_group,
    consistency_note,
    init_note,
    init_weights,
    load_fitting,
)
from . import model_config


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError for the first value that cannot work. `cfg` is fully resolved."""
    extra = sorted(set(cfg.model) - {"_target_", "kind", "decoder_width", "antialias"})
    if extra:
        raise ConfigError(
            "model",
            f"AdaINConfig has no {extra} (debug=default shrinks a generator; "
            "with model=adain use debug=adain)",
        )
    if int(cfg.model.decoder_width) < 1:
        raise ConfigError(
            "model.decoder_width", f"must be a positive integer, got {cfg.model.decoder_width}"
        )
    if "_target_" not in cfg.style:
        raise ConfigError(
            "style",
            "model=adain trains on a set of style images: use style=generated "
            "or style=folder (style=mosaic is one image, for a generator)",
        )
    loss = cfg.loss
    if "encoder" not in loss:
        raise ConfigError("loss", "model=adain needs loss=adain (AdaIN content and style losses)")
    if loss.content_layer != "relu4_1":
        raise ConfigError(
            "loss.content_layer", f"{loss.content_layer!r}: AdaIN's content loss is at relu4_1"
        )
    bad = [t for t in loss.style_layers if t not in TAPS]
    if bad or not loss.style_layers:
        raise ConfigError("loss.style_layers", f"unknown or no taps {bad}; known: {list(TAPS)}")
    if loss.encoder is not None and not Path(loss.encoder).is_file():
        raise ConfigError("loss.encoder", f"encoder weights file {loss.encoder!r} does not exist")
    if loss.encoder is None and not loss.random_fallback.enabled and not hub_vgg19_path().is_file():
        raise ConfigError(
            "loss.encoder",
            f"no VGG-19 weights at {hub_vgg19_path()} and loss.random_fallback.enabled is false",
        )
    t = cfg.trainer
    if t.device not in DEVICES or (t.device == "cuda" and not torch.cuda.is_available()):
        raise ConfigError(
            "trainer.device",
            f"{t.device!r}: expected one of {', '.join(DEVICES)} (cuda only with a GPU)",
        )
    for key in ("steps", "batch_size", "image_size", "log_every", "sample_size"):
        if int(t[key]) < 1:
            raise ConfigError(f"trainer.{key}", f"must be a positive integer, got {t[key]}")
    for key in ("image_size", "sample_size"):
        if int(t[key]) % 8:
            raise ConfigError(
                f"trainer.{key}", f"{t[key]} is not a multiple of 8 (three pools, three upsamples)"
            )
    check_switches(t)
    check_init_weights(t)
    check_consistency(cfg.consistency, int(t.image_size), 8)
    if float(cfg.consistency.detail_weight):
        raise ConfigError(
            "consistency.detail_weight",
            f"{cfg.consistency.detail_weight}: the fine-detail floor trains generators; "
            "expected 0 with model=adain",
        )
    check_export(cfg.export)


def adain_losses(
    net: AdaINNet,
    x01: torch.Tensor,
    s_mean: dict[str, torch.Tensor],
    s_std: dict[str, torch.Tensor],
    style_layers: Sequence[str],
    loss_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unweighted (content, style) losses for content crops `x01` (N, 3, S, S) RGB 0..1 and
    per-sample style statistics {tap: (N, C)}, and the decoded drawings (N, 3, S, S). Only the
    first `loss_rows` crops enter the losses (default all): the shift-consistency views need
    only their drawings."""
    with torch.no_grad():
        f = net.encode(x01)
    t = adain(f, s_mean["relu4_1"][..., None, None], s_std["relu4_1"][..., None, None])
    y = net.decode(t)
    n = x01.shape[0] if loss_rows is None else loss_rows
    feats = net.features(y[:n], list(dict.fromkeys([*style_layers, "relu4_1"])))
    content = F.mse_loss(feats["relu4_1"], t[:n])
    style = x01.new_zeros(())
    for tap in style_layers:
        m, s = mean_std(feats[tap])
        style = (
            style
            + F.mse_loss(m.flatten(1), s_mean[tap][:n])
            + F.mse_loss(s.flatten(1), s_std[tap][:n])
        )
    return content, style, y


def train(cfg: DictConfig, command: str | None = None) -> RunResult:
    """Train, sample and export an AdaIN decoder (and the styles in export.styles). `cfg` is
    resolved; `command` is recorded in the card. The result's `extra_entries` are the styles.
    `model.network: cin` trains the fast net instead (artem_training/cin_distill.py)."""
    if cfg.model.get("network") == "cin":
        from ..cin_distill import train as train_cin

        return train_cin(cfg, command)
    check_config(cfg)
    t = cfg.trainer
    run = Run(cfg)
    full = run.content()
    styles = build_group(cfg.style)
    encoder, described, pretrained = build_adain_encoder(
        cfg.loss.encoder, int(cfg.loss.random_fallback.seed), bool(cfg.loss.random_fallback.enabled)
    )
    net = AdaINNet(model_config(cfg.model))
    net.encoder.load_state_dict(encoder.state_dict())
    net.encoder.requires_grad_(False)
    net = net.to(run.device)
    weights = cfg.loss if pretrained else cfg.loss.random_fallback
    wc, ws = float(weights.content_weight), float(weights.style_weight)
    layers = list(cfg.loss.style_layers)
    bank = StyleBank(net, styles, layers + ["relu4_1"])
    decay = float(t.get("lr_decay") or 0.0)
    warmup = int(cfg.loss.get("pixel_warmup_steps") or 0)
    warmup_lr = float(cfg.loss.get("pixel_warmup_lr") or t.lr)
    rng = np.random.default_rng(run.seed)  # each rank draws its own styles
    decoder = net.decoder  # the bare decoder: what checkpoints and the export hold
    optimizer = torch.optim.Adam(decoder.parameters(), lr=warmup_lr if warmup else float(t.lr))
    if t.get("init_weights"):
        state = init_weights(Path(t.init_weights), "decoder.")
        load_fitting(decoder, state, "trainer.init_weights", t.init_weights)
    if t.get("resume"):

        def load(ckpt: dict[str, Any]) -> None:
            load_fitting(decoder, ckpt["decoder"], "trainer.resume", t.resume)
            if int(ckpt["step"]) != warmup:  # at the switch the AdaIN phase starts a fresh Adam
                optimizer.load_state_dict(ckpt["optimizer"])
            if "rng" in ckpt:
                rng.bit_generator.state = ckpt["rng"]["styles"]

        run.resume(load)
    net.decoder = run.parallel(decoder)  # DDP averages the decoder's gradients; encoder frozen
    run.log_built(
        f"adain decoder width {net.config.decoder_width}",
        net,
        f"content: {run.source.description}; styles: {styles.description}; encoder: {described}; "
        f"weights content {wc:g} style {ws:g}",
    )

    shifts, c = run.shifts, cfg.consistency
    for step in run.steps("artem-train adain", mininterval=5.0):
        if step == warmup + 1 and warmup:
            # The losses change scale by orders of magnitude here: Adam's moments from the warm-up
            # would make the first AdaIN steps far too large (a run with them collapsed the
            # decoder).
            optimizer = torch.optim.Adam(decoder.parameters(), lr=float(t.lr))
        if step > warmup:
            for group in optimizer.param_groups:  # pytorch-AdaIN's adjust_learning_rate
                group["lr"] = float(t.lr) / (1.0 + decay * (step - warmup - 1))
        x = run.sampler.next().to(run.device) / 255
        idx = torch.from_numpy(rng.integers(0, bank.count, x.shape[0])).to(run.device)
        s_mean = {k: v[idx] for k, v in bank.mean.items()}
        s_std = {k: v[idx] for k, v in bank.std.items()}
        consistency = None  # the shift-consistency loss, in the AdaIN steps when it is on
        if step <= warmup:  # the decoder learns to invert the encoder first: 3x cheaper steps
            with torch.no_grad():
                f = net.encode(x)
            content, style = F.mse_loss(net.decode(f), x) / (wc or 1.0), x.new_zeros(())
        elif shifts is None:
            content, style, _ = adain_losses(net, x, s_mean, s_std, layers)
        else:  # the crops and their moved views in one batch, the same style for both
            views, move = shifts.views(x, scale=1.0)
            both = lambda stats: {k: torch.cat([v, v]) for k, v in stats.items()}  # noqa: E731
            content, style, y = adain_losses(
                net, views, both(s_mean), both(s_std), layers, x.shape[0]
            )
            consistency = float(c.weight) * shifts.loss(y, move, scale=1.0)
        optimizer.zero_grad(set_to_none=True)
        (wc * content + ws * style + (consistency if consistency is not None else 0)).backward()
        optimizer.step()

        run.report(
            step,
            wc * content.item(),
            ws * style.item(),
            consistency.item() if consistency is not None else None,
        )
        run.checkpoint(
            step,
            {"decoder": decoder.state_dict(), "optimizer": optimizer.state_dict()},
            {"styles": rng.bit_generator.state},
        )
    net.decoder = decoder
    net = net.cpu().eval()
    e = cfg.export
    if not run.d.main:  # rank 0 exports; the others return its entries
        return run.follow(net, [s.name for s in e.get("styles") or []])

    metrics, last = run.metrics(), run.last
    first, seconds = run.first, run.seconds
    notes = (
        f"AdaIN decoder of width {net.config.decoder_width}"
        f"{' (pytorch-AdaIN: 64)' if net.config.decoder_width != 64 else ''}. "
        f"Encoder: {described}. "
        f"Content: {run.source.description}. Styles: {styles.description}. Trained {t.steps} "
        f"steps, batch {t.batch_size}, {t.image_size}px crops"
        + (
            f": steps 1-{warmup} reconstruct the content (pixel MSE, Adam lr {warmup_lr:g}), "
            f"then AdaIN's losses with a fresh Adam"
            if warmup
            else ""
        )
        + f", lr {t.lr} (decay {decay:g}), on {run.on_devices}"
        + f" ({torch.get_num_threads()} threads); "
        + (f"resumed from a checkpoint at step {first - 1}; " if first > 1 else "")
        + f"steps {first}-{t.steps} took {seconds:.0f} s; final (last {t.log_every} steps) "
        f"content loss {last['content']:.4g}, style loss {last['style']:.4g} (weights content "
        f"{wc:g}, style {ws:g})."
        + (" Anti-aliased (max-blur pools, bilinear upsampling)." if net.config.antialias else "")
        + consistency_note(cfg, last)
        + init_note(t)
    )
    made_by = {
        "command": command or "artem_training.train.train(cfg)",
        "config": OmegaConf.to_container(cfg),
        "metrics": metrics,
        "world_size": run.d.world_size,
    }
    files = {ONNX_FILE: export_adain_onnx(as_stored(net, bool(e.fp16)))} if e.onnx else None
    entry = write_adain_model(
        Path(e.models_dir),
        e.name,
        net,
        display_name=e.display_name,
        source=f"artem-train ({described})",
        made_by=made_by,
        license=LICENSE_NOTE,
        notes=f"{notes} {ADAIN_IO}." if e.onnx else notes,
        half=bool(e.fp16),
        overwrite=bool(e.overwrite),
        files=files,
    )
    style_entries = export_styles(entry, e)
    samples = [center_square(full[i], int(t.sample_size)) for i in range(min(4, len(full)))]
    run.save_grid(sample_grid(net, samples, [styles[i] for i in range(min(3, len(styles)))]))
    return run.done(net, entry, metrics, style_entries)


def sample_grid(
    net: AdaINNet, contents: Sequence[np.ndarray], styles: Sequence[np.ndarray]
) -> Image.Image:
    """Top row: blank, then each content square; one row per style: the style, then each
    content square in that style. Squares are (S, S, 3) uint8 RGB."""
    size = contents[0].shape[0]
    blank = np.full_like(contents[0], 255)
    rows = [np.concatenate([blank, *contents], axis=1)]
    x = to_batch(contents)
    for style in styles:
        stylizer = AdaINStylizer(net, compute_style_stats(net, style))
        with torch.inference_mode():
            out = stylizer(x).clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()
        thumb = np.asarray(Image.fromarray(style).resize((size, size), Image.Resampling.BICUBIC))
        rows.append(np.concatenate([thumb, *out], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))
