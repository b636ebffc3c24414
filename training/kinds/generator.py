"""`model.kind: generator`: one style's Johnson et al. generator, from a composed config to a
models-directory entry. Recipe: Adam on the perceptual loss of `losses.py` over random crops of
the content images (pytorch/examples fast_neural_style's neural_style.py), or with a `teacher`
on its outputs (distillation).

`fit` is the loop for any feed-forward image-to-image net (0..255 RGB in and out): a kind whose
net is a generator variant passes its own `build` and `EntryKind` and reuses the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from artem_server.models.generator import Generator
from artem_server.models.onnx_export import GENERATOR_IO, export_onnx

from ..checks import check_config
from ..consistency import check_consistency
from ..data import center_square, to_batch
from ..detail import DetailFloor
from ..errors import ConfigError
from ..export import DISTILLED_NOTE, LICENSE_NOTE, EntryKind, export_entry, sample_grid
from ..losses import DistillLoss, PerceptualLoss
from ..narrow import narrow_state
from ..precision import autocast, grad_scaler
from ..run import (
    Run,
    RunResult,
    build_group,
    consistency_note,
    init_note,
    init_weights,
    load_fitting,
)
from ..style_images import load_style_image
from ..vgg import build_vgg16
from . import model_config

# A training objective: (its module, what it is in words, whether its network is pretrained,
# its weights in words); the words go into the card.
LossParts = tuple[torch.nn.Module, str, bool, str]

ENTRY = EntryKind(
    "generator", lambda net: net.config.to_dict(), onnx=export_onnx, onnx_io=GENERATOR_IO
)


def build(cfg: DictConfig) -> Generator:
    """The `model` group's `_target_` builds the GeneratorConfig; the net is built from it."""
    return Generator(model_config(cfg.model))


def train(cfg: DictConfig, command: str | None = None) -> RunResult:
    """Train, sample and export one style. `cfg` is resolved; `command` goes into the card."""
    return fit(cfg, command, build, ENTRY, Generator.size_multiple)


def fit(
    cfg: DictConfig,
    command: str | None,
    build: Callable[[DictConfig], torch.nn.Module],
    entry_kind: EntryKind,
    size_multiple: int,
    loss: Callable[[DictConfig, torch.device], LossParts] | None = None,
) -> RunResult:
    """Train the net `build(cfg)` makes (0..255 RGB in and out, sides multiples of
    `size_multiple`) and export it as an `entry_kind` entry; checkpoints keep its weights under
    the entry kind's name (`generator`). `loss(cfg, device)` builds the objective (default
    `build_loss`: perceptual, or distillation with a `teacher`); its module maps (output, input)
    to the weighted (content, style) pair; it is a `DistillLoss` or has a `.style_image` (the
    sample grid's corner)."""
    check_config(cfg, size_multiple)
    if cfg.export.onnx and entry_kind.onnx is None:
        raise ConfigError("export.onnx", f"true, but a {entry_kind.name} net has no ONNX export")
    check_consistency(cfg.consistency, int(cfg.trainer.image_size), size_multiple)
    t = cfg.trainer
    run = Run(cfg)
    full = run.content()
    loss_fn, loss_described, pretrained, weights = (loss or build_loss)(cfg, run.device)
    style_img = reference_image(cfg, loss_fn, full)
    net = build(cfg).to(run.device)
    if t.init_weights:
        state = init_weights(Path(t.init_weights))
        if t.get("init_narrowed"):
            state = narrow_state(state, net)
        load_fitting(net, state, "trainer.init_weights", t.init_weights)
    elif isinstance(loss_fn, DistillLoss) and not t.resume:
        # Targets are 0..255 images: start at mid-grey, not near 0, where Adam's steps of about
        # trainer.lr would spend the first hundred steps only reaching the teacher's range.
        # (`deconv3` is the generator's output conv; a variant of the net keeps the name.)
        with torch.no_grad():
            net.deconv3.conv2d.bias.fill_(127.5)
    model = run.parallel(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=float(t.lr))
    if t.resume:

        def load(ckpt: dict[str, Any]) -> None:
            load_fitting(net, ckpt[entry_kind.name], "trainer.resume", t.resume)
            optimizer.load_state_dict(ckpt["optimizer"])

        run.resume(load)
    run.log_built(
        f"{entry_kind.name} {getattr(net, 'config', '')}",
        net,
        f"content: {run.source.description}; loss: {loss_described}; weights {weights}",
    )

    shifts, c = run.shifts, cfg.consistency
    floor = DetailFloor(c.detail_weight, c.detail_target) if float(c.detail_weight) else None
    precision = str(t.precision)
    scaler = grad_scaler(precision, run.device)
    for step in run.steps("artem-train"):
        x = run.sampler.next().to(run.device)
        with autocast(precision, run.device):
            if shifts is None:
                content, style = loss_fn(model(x), x)
                consistency = None
            else:  # the crop and its moved view in one batch; the perceptual loss on the first
                views, move = shifts.views(x)
                y = model(views)
                content, style = loss_fn(y[: x.shape[0]], views[: x.shape[0]])
                consistency = float(c.weight) * shifts.loss(y.float(), move)
                if floor is not None:  # logged as part of the content term
                    content = content + floor(y[: x.shape[0]], views[: x.shape[0]])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(content + style + (consistency if consistency is not None else 0)).backward()
        scaler.step(optimizer)
        scaler.update()

        run.report(
            step,
            content.item(),
            style.item(),
            consistency.item() if consistency is not None else None,
        )
        state = {entry_kind.name: net.state_dict(), "optimizer": optimizer.state_dict()}
        run.checkpoint(step, state)
    if not run.d.main:  # rank 0 exports; the others return its entry
        return run.follow(net)

    samples = [center_square(full[i], int(t.sample_size)) for i in range(min(4, len(full)))]
    teacher = getattr(loss_fn, "teacher", None)
    run.save_grid(sample_grid(net, samples, style_img, teacher=teacher))

    metrics, last = run.metrics(), run.last
    distilled = isinstance(loss_fn, DistillLoss)
    terms = ("pixel", "detail") if distilled else ("content", "style")
    target = (
        f"Targets: the teacher's outputs ({loss_fn.teacher.description})"
        if distilled
        else f"Style image: {cfg.style.image} (seed {cfg.style.seed}, size {cfg.style.size})"
    )
    notes = (
        f"Loss: {loss_described}. Content: {run.source.description}. {target}. Trained "
        f"{t.steps} steps, batch {t.batch_size}, {t.image_size}px crops, {t.precision}, on "
        f"{run.on_devices} ({torch.get_num_threads()} threads) in {run.seconds:.0f} s; final "
        f"(last {t.log_every} steps) {terms[0]} loss {last['content']:.4g}, {terms[1]} loss "
        f"{last['style']:.4g} (weights {weights})." + consistency_note(cfg, last) + init_note(t)
    )
    made_by = {
        "command": command or "artem_training.train.train(cfg)",
        "config": OmegaConf.to_container(cfg),
        "metrics": metrics,
        "loss_network": loss_described,
        "pretrained_loss_network": pretrained,
        "device": str(run.device),
        "precision": str(t.precision),
        "world_size": run.d.world_size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    licence = f"{DISTILLED_NOTE} {loss_fn.teacher.licence}" if distilled else LICENSE_NOTE
    e = cfg.export
    entry = export_entry(
        net,
        entry_kind,
        Path(e.models_dir),
        e.name,
        e.display_name,
        made_by,
        notes,
        source=f"artem-train ({loss_described})",
        fp16=bool(e.fp16),
        overwrite=bool(e.overwrite),
        onnx=bool(e.onnx),
        licence=licence,
    )
    return run.done(net, entry, metrics)


def build_loss(cfg: DictConfig, device: torch.device) -> LossParts:
    """(loss, what it is in words, whether its network is pretrained, its weights in words).
    A `teacher` makes it distillation (loss=distill); otherwise the VGG-16 perceptual loss,
    with ImageNet weights when present, else the random-weight fallback and its weights."""
    if cfg.get("teacher") is not None:
        teacher = build_group(cfg.teacher)
        loss = DistillLoss(teacher, float(cfg.loss.pixel_weight), float(cfg.loss.detail_weight))
        return (
            loss,
            f"distillation from {teacher.description} (pixel and gradient L1)",
            True,
            f"pixel {cfg.loss.pixel_weight:g}, detail {cfg.loss.detail_weight:g}",
        )
    style_img = load_style_image(str(cfg.style.image), cfg.style.size, int(cfg.style.seed))
    vgg, described, pretrained = build_vgg16(
        cfg.loss.weights, int(cfg.loss.random_fallback.seed), bool(cfg.loss.random_fallback.enabled)
    )
    w = cfg.loss if pretrained else cfg.loss.random_fallback
    loss = PerceptualLoss(
        vgg.to(device),
        to_batch([style_img]).to(device),
        cfg.loss.content_layer,
        cfg.loss.style_layers,
        float(w.content_weight),
        float(w.style_weight),
    )
    loss.style_image = style_img
    return loss, described, pretrained, f"content {w.content_weight:g}, style {w.style_weight:g}"


def reference_image(cfg: DictConfig, loss: torch.nn.Module, content: Any) -> np.ndarray:
    """The picture in the sample grid's corner: the style image, or for distillation the
    teacher's rendering of the first content image."""
    if isinstance(loss, DistillLoss):
        first = center_square(content[0], int(cfg.trainer.sample_size))
        return loss.teacher(to_batch([first]))[0].round().byte().permute(1, 2, 0).numpy()
    return loss.style_image
