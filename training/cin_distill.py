"""`model=adain_cin`: the adain kind's fast network (artem_server/models/adain_cin.py) distilled
from an arbitrary-style teacher pair (`teacher=arbitrary`: a style-prediction and a transfer
network in ONNX), into an adain model entry plus the default styles `export.styles` names.

Per step: a batch of content crops at the teacher's content size and one augmented style image
each (training/style_pool.py); the teacher predicts each style's vector and stylizes each crop
with it; our predictor reads the same style image, our generator stylizes a random sub-crop
(`trainer.image_size`) with our vector, and the loss is the pixel and image-gradient L1 to the
teacher's output there (as loss=distill for the generator styles) plus the mean squared
difference of the vectors (`loss.vector_weight`, on the batch and `loss.vector_batch` more style
images), which anchors the predictor to the teacher's style space. Both parts learn end to end.
Our code and our weights; the teacher's licence goes into the card.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from artem_server.models.adain_cin import CINConfig, CINNet, CINStylizer
from artem_server.models.adain_store import write_adain_model

from .adain_entries import check_export, export_styles
from .checks import DEVICES, check_init_weights, check_switches
from .data import CropSampler, SkimageImages, center_square, to_batch
from .errors import ConfigError
from .export import DISTILLED_NOTE
from .losses import image_gradients
from .narrow import narrow_cin_state
from .run import Run, RunResult, build_group, init_note, init_weights, load_fitting
from .style_images import load_style_image

NETWORK_FIELDS = ("kind", "network")  # model-group fields that pick code, not CINConfig's


def cin_config(model: DictConfig) -> CINConfig:
    """The model group's CINConfig (every field but those that pick the code)."""
    fields = {k: v for k, v in model.items() if k not in NETWORK_FIELDS}
    return build_group(DictConfig(fields))


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first key whose value cannot work (`cfg` resolved)."""
    known = {"_target_", *NETWORK_FIELDS, *(f.name for f in dataclasses.fields(CINConfig))}
    extra = sorted(set(cfg.model) - known)
    if extra:
        raise ConfigError("model", f"CINConfig has no {extra}; its fields: {sorted(known)}")
    for key in ("width", "res_blocks", "style_dim", "predictor_width", "predictor_size"):
        if key in cfg.model and int(cfg.model[key]) < 1:
            raise ConfigError(f"model.{key}", f"must be a positive integer, got {cfg.model[key]}")
    teacher = cfg.get("teacher")
    if teacher is None or "transfer" not in teacher:
        raise ConfigError(
            "teacher", "model=adain_cin learns from an arbitrary-style pair: use teacher=arbitrary"
        )
    if "_target_" not in cfg.style or not str(cfg.style._target_).endswith("StylePool"):
        raise ConfigError("style", "model=adain_cin draws its style images from style=pool")
    if "teacher_forcing" not in cfg.loss:
        raise ConfigError("loss.teacher_forcing", "model=adain_cin needs loss=adain_distill")
    for key in ("pixel_weight", "detail_weight", "vector_weight", "vector_batch", "windows"):
        if key not in cfg.loss:
            raise ConfigError(f"loss.{key}", "model=adain_cin needs loss=adain_distill")
        if float(cfg.loss[key]) < 0:
            raise ConfigError(f"loss.{key}", f"must be 0 or more, got {cfg.loss[key]}")
    ev = cfg.get("evaluation")
    if ev is None or not ev.get("photos") or not ev.get("styles"):
        raise ConfigError(
            "evaluation",
            "model=adain_cin needs evaluation.photos and evaluation.styles (held out: the "
            "card's figures against the teacher); experiment=adain_fast sets them",
        )
    t = cfg.trainer
    if t.device not in DEVICES or (t.device == "cuda" and not torch.cuda.is_available()):
        raise ConfigError(
            "trainer.device", f"{t.device!r}: expected one of {', '.join(DEVICES)} (cuda: a GPU)"
        )
    for key in ("steps", "batch_size", "image_size", "log_every", "sample_size"):
        if int(t[key]) < 1:
            raise ConfigError(f"trainer.{key}", f"must be a positive integer, got {t[key]}")
    if int(cfg.loss.windows) < 1:
        raise ConfigError("loss.windows", f"must be a positive integer, got {cfg.loss.windows}")
    if int(t.image_size) % 4 or int(t.image_size) > int(teacher.content_size):
        raise ConfigError(
            "trainer.image_size",
            f"{t.image_size}: expected a multiple of 4 no larger than teacher.content_size "
            f"({teacher.content_size}), the crops the teacher renders",
        )
    check_switches(t)
    check_init_weights(t)
    if t.get("generator_lr") is not None and float(t.generator_lr) < 0:
        raise ConfigError("trainer.generator_lr", f"must be 0 or more, got {t.generator_lr}")
    if t.get("init_generator") and not (Path(t.init_generator) / "card.json").is_file():
        raise ConfigError(
            "trainer.init_generator",
            f"{t.init_generator!r}: expected a generator entry folder (card.json, weights)",
        )
    check_export(cfg.export)


def _sub_crops(
    x: torch.Tensor, target: torch.Tensor, size: int, windows: int, rng: random.Random
) -> tuple[torch.Tensor, torch.Tensor]:
    """`windows` random (size x size) windows of each content crop and the same windows of its
    teacher output, grouped by crop (crop i's windows are rows i*windows...)."""
    xs, ts = [], []
    h, w = x.shape[-2:]
    for i in range(x.shape[0]):
        for _ in range(windows):
            top, left = rng.randint(0, h - size), rng.randint(0, w - size)
            xs.append(x[i, :, top : top + size, left : left + size])
            ts.append(target[i, :, top : top + size, left : left + size])
    return torch.stack(xs), torch.stack(ts)


def _resized(images: torch.Tensor, side: int) -> torch.Tensor:
    """(N, 3, S, S) images at side x side (as the predictor reads a style image)."""
    if images.shape[-1] == side:
        return images
    return F.interpolate(images, size=(side, side), mode="bilinear", antialias=True)


def distill_losses(y: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unweighted (pixel L1, image-gradient L1) on 0..1 of (N, 3, H, W) RGB 0..255 images."""
    y, target = y / 255.0, target / 255.0
    (gy, gx), (ty, tx) = image_gradients(y), image_gradients(target)
    return F.l1_loss(y, target), F.l1_loss(gy, ty) + F.l1_loss(gx, tx)


def train(cfg: DictConfig, command: str | None = None) -> RunResult:
    """Train, evaluate against the teacher, sample and export the fast adain net and its
    default styles. `cfg` is resolved; `command` is recorded in the card."""
    check_config(cfg)
    t, lw = cfg.trainer, cfg.loss
    run = Run(cfg)
    full = run.content()
    teacher = build_group(cfg.teacher)
    # The teacher renders whole crops of its content size; the net learns sub-crops of them.
    run.sampler = CropSampler(
        run.source, teacher.content_size, int(t.batch_size), float(t.max_zoom), run.seed
    )
    pool = build_group(cfg.style)
    net = CINNet(cin_config(cfg.model)).to(run.device)
    if t.get("init_weights"):
        state = init_weights(Path(t.init_weights))
        if t.get("init_narrowed"):
            state = narrow_cin_state(state, net)
        load_fitting(net, state, "trainer.init_weights", t.init_weights)
    elif not t.get("init_generator"):  # targets are 0..255 images: start at mid-grey
        with torch.no_grad():
            net.generator.deconv3.conv2d.bias.fill_(127.5)
    if t.get("init_generator"):
        try:
            net.start_from_generator(init_weights(Path(t.init_generator)))
        except (ValueError, KeyError) as err:
            raise ConfigError("trainer.init_generator", f"{t.init_generator}: {err}") from None
    # The shared convs learn slower than the head and predictor: while the head cannot yet tell
    # styles apart, the loss is lowest for one blurred average of all the teachers' paintings,
    # and at trainer.lr the convs went there within 50 steps (from nocturne's painting convs).
    conv_lr = float(t.lr) if t.get("generator_lr") is None else float(t.generator_lr)
    optimizer = torch.optim.Adam(
        [
            {"params": net.generator.parameters(), "lr": conv_lr},
            {"params": [*net.head.parameters(), *net.predictor.parameters()]},
        ],
        lr=float(t.lr),
    )
    rng = random.Random(run.seed + 7)  # style draws and sub-crops
    if t.get("resume"):

        def load(ckpt: dict[str, Any]) -> None:
            load_fitting(net, ckpt["adain"], "trainer.resume", t.resume)
            optimizer.load_state_dict(ckpt["optimizer"])
            if "styles" in ckpt.get("rng", {}):
                s = ckpt["rng"]["styles"]
                rng.setstate((s[0], tuple(s[1]), s[2]))

        run.resume(load)
    model = run.parallel(net)
    run.log_built(
        f"adain cin {net.config}",
        net,
        f"content: {run.source.description}; styles: {pool.description}; teacher: "
        f"{teacher.description}",
    )
    pw, dw, vw = float(lw.pixel_weight), float(lw.detail_weight), float(lw.vector_weight)
    extra, windows = int(lw.vector_batch), int(lw.windows)
    forcing = bool(lw.teacher_forcing)
    size = int(t.image_size)
    for step in run.steps("artem-train adain cin", mininterval=5.0):
        x = run.sampler.next()
        styles = to_batch([pool.draw(rng) for _ in range(x.shape[0] + extra)])
        with torch.no_grad():
            v_teacher = teacher.vectors(styles)
            target = teacher(x, v_teacher[: x.shape[0]])
        xc, tc = _sub_crops(x, target, size, windows, rng)
        v = net.predictor(_resized(styles, net.config.predictor_size).to(run.device))
        # Teacher forcing: the generator learns from the teacher's vectors (informative from the
        # first step), the predictor from the vector term; end to end, the generator waits for
        # an untrained predictor and learns one average style first (tried: 200 steps of it).
        drive = v_teacher.to(run.device) if forcing else v
        y = model(xc.to(run.device), drive[: x.shape[0]].repeat_interleave(windows, 0))
        pixel, detail = distill_losses(y, tc.to(run.device))
        vector = F.mse_loss(v, v_teacher.to(run.device))
        image_loss, vector_loss = pw * pixel + dw * detail, vw * vector
        optimizer.zero_grad(set_to_none=True)
        (image_loss + vector_loss).backward()
        optimizer.step()
        run.report(step, image_loss.item(), vector_loss.item())
        state = {"adain": net.state_dict(), "optimizer": optimizer.state_dict()}
        run.checkpoint(step, state, {"styles": list(rng.getstate())})
    net = net.cpu().eval()
    if not run.d.main:
        return run.follow(net, [s.name for s in cfg.export.get("styles") or []])

    figures = evaluate(net, teacher, cfg.evaluation)
    samples = [center_square(full[i], int(t.sample_size)) for i in range(min(3, len(full)))]
    run.save_grid(sample_grid(net, teacher, samples, held_out_styles(cfg.evaluation)))
    metrics, last = run.metrics(), run.last
    metrics.update(figures)
    e = cfg.export
    c = net.config
    notes = (
        f"Fast arbitrary-style net: a style predictor ({c.predictor_width}-channel convs on a "
        f"{c.predictor_size}px square) gives a {c.style_dim}-number style vector once per "
        f"style; a generator of width {c.width} with {c.res_blocks} residual blocks"
        f"{' (anti-aliased)' if c.antialias else ''} takes every instance norm's scale and "
        f"shift from it (a linear map). Distilled from the teacher pair {teacher.description}: "
        f"pixel and image-gradient L1 to its output (weights {pw:g}, {dw:g}) on {windows} "
        f"{size}px windows of each of its {teacher.content_size}px renderings, plus {vw:g} x "
        f"the squared error of our style vector to its vector"
        + (
            " (the generator driven by the teacher's vectors, the predictor by that term). "
            if forcing
            else " (end to end: the generator driven by our predictor's vectors). "
        )
        + "Content: "
        f"{run.source.description}. Styles: {pool.description}. Trained {t.steps} steps, "
        f"{t.batch_size} renderings a step (+{extra} style images for the vector term), "
        f"Adam lr {t.lr} (the generator's convs {conv_lr:g}), on {run.on_devices} "
        f"({torch.get_num_threads()} threads); "
        + (f"resumed from a checkpoint at step {run.first - 1}; " if run.first > 1 else "")
        + f"steps {run.first}-{t.steps} took {run.seconds:.0f} s; final (last {t.log_every} "
        f"steps) image loss {last['content']:.4g}, vector loss {last['style']:.4g}. Against "
        f"the teacher on held-out photographs and style images (mean over the pairs, at "
        f"{teacher.content_size}px): mean abs diff {figures['teacher_mad']:.1f} grey levels, "
        f"PSNR {figures['teacher_psnr']:.1f} dB (with the teacher's own style vector: "
        f"{figures['teacher_mad_own_vector']:.1f}, {figures['teacher_psnr_own_vector']:.1f} dB)."
        + init_note(t)
        + (
            f" Its convs and (as the head's bias) its norms started from the generator "
            f"{t.init_generator}."
            if t.get("init_generator")
            else ""
        )
    )
    made_by = {
        "command": command or "artem_training.train.train(cfg)",
        "config": OmegaConf.to_container(cfg),
        "metrics": metrics,
        "world_size": run.d.world_size,
    }
    entry = write_adain_model(
        Path(e.models_dir),
        e.name,
        net,  # type: ignore[arg-type]
        display_name=e.display_name,
        source=f"artem-train (distillation from {teacher.description})",
        made_by=made_by,
        license=f"{DISTILLED_NOTE} {teacher.licence}",
        notes=notes,
        half=bool(e.fp16),
        overwrite=bool(e.overwrite),
    )
    return run.done(net, entry, metrics, export_styles(entry, e))


def held_out_styles(ev: DictConfig) -> list[tuple[str, np.ndarray]]:
    """The evaluation's style images: (spec, (H, W, 3) uint8)."""
    out = []
    for spec in ev.styles:
        if str(spec).startswith("photo:"):
            name = str(spec)[len("photo:") :]
            out.append((str(spec), np.asarray(SkimageImages([name]).images[0])))
        else:
            image, _, seed = str(spec).partition("@")
            out.append((str(spec), load_style_image(image, 256, int(seed or 0))))
    return out


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = F.mse_loss(a.round(), b.round()).item()
    return 10 * float(np.log10(255.0**2 / max(mse, 1e-10)))


@torch.no_grad()
def evaluate(net: CINNet, teacher: Any, ev: DictConfig) -> dict[str, float]:
    """Mean abs diff (grey levels) and PSNR (dB) of our stylization to the teacher's, over the
    held-out photographs x held-out style images at the teacher's content size: with our
    predicted vector (what a user gets) and with the teacher's vector (the generator alone)."""
    photos = [
        center_square(im, teacher.content_size) for im in SkimageImages(list(ev.photos)).images
    ]
    x = to_batch(photos)
    rows: dict[str, list[float]] = {k: [] for k in ("mad", "psnr", "mad_own", "psnr_own")}
    for _, rgb in held_out_styles(ev):
        square = center_square(Image.fromarray(rgb), 256)
        v_teacher = teacher.vectors(to_batch([square]))
        target = teacher(x, v_teacher.expand(x.shape[0], -1))
        for vec, mad, psnr in (
            (net.style_vector(rgb), "mad", "psnr"),
            (v_teacher[0], "mad_own", "psnr_own"),
        ):
            y = CINStylizer(net, vec)(x).clamp(0, 255)
            rows[mad].append((y.round() - target.round()).abs().mean().item())
            rows[psnr].append(_psnr(y, target))
    m = {k: round(float(np.mean(v)), 2) for k, v in rows.items()}
    return {
        "teacher_mad": m["mad"],
        "teacher_psnr": m["psnr"],
        "teacher_mad_own_vector": m["mad_own"],
        "teacher_psnr_own_vector": m["psnr_own"],
    }


@torch.no_grad()
def sample_grid(
    net: CINNet, teacher: Any, contents: list[np.ndarray], styles: list[tuple[str, np.ndarray]]
) -> Image.Image:
    """Per held-out style image two rows: the style image then our stylization of each content
    square, and below it the teacher's (its corner blank)."""
    size = contents[0].shape[0]
    x = to_batch(contents)
    rows = []
    for _, rgb in styles[:3]:
        thumb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.Resampling.BICUBIC))
        ours = CINStylizer(net, net.style_vector(rgb))(x).clamp(0, 255)
        v_teacher = teacher.vectors(to_batch([center_square(Image.fromarray(rgb), 256)]))
        scale = teacher.content_size / size  # the teacher takes its own size only
        big = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        theirs = F.interpolate(
            teacher(big, v_teacher.expand(x.shape[0], -1)), size=(size, size), mode="area"
        )
        for first, imgs in ((thumb, ours), (np.full_like(thumb, 255), theirs)):
            tiles = imgs.round().byte().permute(0, 2, 3, 1).numpy()
            rows.append(np.concatenate([first, *tiles], axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))
