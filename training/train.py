"""`train(cfg)`: one style's generator, from a composed config to a models-directory entry.

It takes a resolved config (paths included) and needs nothing of Hydra's runtime, so tests and
notebooks call it directly; `app.py` is only the command-line wrapper. Recipe: Adam on the
perceptual loss of `losses.py` over random crops of the content images (pytorch/examples
fast_neural_style's neural_style.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from artem_server.models.generator import Generator
from artem_server.models.store import Entry, read_entry

from .adain_train import is_adain, train_adain
from .checks import check_config
from .consistency import ShiftViews, check_consistency, shift_views
from .data import CropSampler, center_square, to_batch
from .distributed import Dist, Shard, join, leave
from .errors import ConfigError
from .export import DISTILLED_NOTE, LICENSE_NOTE, export_entry, sample_grid
from .losses import DistillLoss, PerceptualLoss
from .precision import autocast, grad_scaler
from .progress import StepLog
from .style_images import load_style_image
from .tb import log_grid, open_writer
from .vgg import build_vgg16

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What `train` returns: metrics plus everything it built and wrote."""

    metrics: dict[str, float]
    generator: Generator
    entry: Entry
    run_dir: Path
    sample_grid: Path
    checkpoints: list[Path] = field(default_factory=list)


def resolve(cfg: DictConfig) -> DictConfig:
    """A fully resolved copy; a missing `???` value raises naming its key."""
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def start_run(cfg: DictConfig) -> Path:
    """The run folder (created), torch's thread count and seed: what every model kind's run
    sets up first. Returns the run folder."""
    run_dir = Path(cfg.paths.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.trainer.threads:
        torch.set_num_threads(int(cfg.trainer.threads))
    torch.manual_seed(int(cfg.trainer.seed))
    return run_dir


def run_metrics(
    t: DictConfig, first: int, seconds: float, last: dict[str, float], world_size: int = 1
) -> dict[str, float]:
    """What a finished run reports (card, metrics.json, sweep summary): steps, time, speed over
    the steps this run took (from `first`), and the last logged losses."""
    images = (int(t.steps) - first + 1) * int(t.batch_size) * world_size
    metrics = {
        "steps": float(t.steps),
        "seconds": round(seconds, 1),
        "resumed_at": float(first - 1),
        "images_per_s": round(images / seconds, 3),
        "content_loss": last["content"],
        "style_loss": last["style"],
        "loss": sum(last.values()),
    }
    if "consistency" in last:
        metrics["consistency_loss"] = last["consistency"]
    return metrics


def build_data(cfg: DictConfig, group: str = "data") -> Any:
    """Instantiate a group's `_target_` (`data`, `teacher`). Hydra wraps every error in an
    InstantiationException; ours are re-raised bare so the message starts with the key."""
    try:
        return instantiate(cfg[group])
    except InstantiationException as e:
        if isinstance(e.__cause__, ConfigError):
            raise e.__cause__ from None
        raise


def save_checkpoint(
    path: Path,
    step: int,
    generator: Generator,
    optimizer: torch.optim.Optimizer,
    sampler: CropSampler,
    shifts: ShiftViews | None = None,
) -> None:
    """Plain tensors, numbers and lists only, so `torch.load(weights_only=True)` reads it back.
    The crop sampler's (and the shift draws') random state is saved too: a resumed run draws
    the crops it would have."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = {"crops": list(sampler.rng.getstate())}
    if shifts is not None:  # its moves, and torch's generator that draws its noise
        rng["shifts"], rng["torch"] = shifts.state(), torch.get_rng_state()
    torch.save(
        {
            "step": step,
            "generator": generator.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng,
        },
        path,
    )


def init_weights(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """`trainer.init_weights`: the weights a run starts from, as fp32 tensors: a models-directory
    entry's (those under `prefix`, which is stripped: "decoder." for an adain model) or a run
    checkpoint's generator or decoder."""
    path = Path(path)
    if path.is_dir():
        sd = read_entry(path).load_weights()
        return {k[len(prefix) :]: v.float() for k, v in sd.items() if k.startswith(prefix)}
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.float() for k, v in (ckpt.get("generator") or ckpt.get("decoder") or ckpt).items()}


def resume_checkpoint(
    path: Path,
    generator: Generator,
    optimizer: torch.optim.Optimizer,
    sampler: CropSampler,
    steps: int,
    shifts: ShiftViews | None = None,
) -> int:
    """Load a checkpoint of this loop (weights, Adam's moments, crop draws); returns the first
    step still to run."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    step = int(ckpt["step"])
    if step >= steps:
        raise ConfigError(
            "trainer.resume",
            f"{path} is at step {step}; trainer.steps={steps} leaves nothing to run",
        )
    try:
        generator.load_state_dict(ckpt["generator"])
    except RuntimeError as e:
        raise ConfigError(
            "trainer.resume",
            f"{path} does not fit the model ({generator.config}): {str(e).splitlines()[0]}",
        ) from None
    optimizer.load_state_dict(ckpt["optimizer"])
    if "rng" in ckpt:
        crops = ckpt["rng"]["crops"]
        sampler.rng.setstate((crops[0], tuple(crops[1]), crops[2]))
        if shifts is not None and "shifts" in ckpt["rng"]:
            shifts.set_state(ckpt["rng"]["shifts"])
        if shifts is not None and "torch" in ckpt["rng"]:
            torch.set_rng_state(ckpt["rng"]["torch"])
    else:  # checkpoints written before the crop state was saved
        log.warning("%s has no crop-sampler state: the resumed run draws other crops", path)
    log.info("resumed from %s at step %d", path, step)
    return step + 1


def train(cfg: DictConfig, command: str | None = None) -> TrainResult:
    """Train, sample and export one style. `command` is recorded in the card (the CLI line)."""
    cfg = resolve(cfg)
    if is_adain(cfg):  # model=adain trains a decoder: its own loop (adain_train.py)
        return train_adain(cfg, command=command)  # type: ignore[return-value]
    check_config(cfg)
    check_consistency(cfg.consistency, int(cfg.trainer.image_size), Generator.size_multiple)
    t = cfg.trainer
    run_dir = start_run(cfg)
    d, device = join(pick_device(t.device)) if t.ddp else (Dist(), pick_device(t.device))

    full = build_data(cfg)
    source = Shard(full, d) if d.enabled else full
    sampler = CropSampler(
        source, int(t.image_size), int(t.batch_size), float(t.max_zoom), int(t.seed) + d.rank
    )
    loss_fn, loss_described, pretrained, weights = build_loss(cfg, device)
    style_img = reference_image(cfg, loss_fn, full)
    generator = instantiate_generator(cfg).to(device)
    if t.init_weights:
        try:
            generator.load_state_dict(init_weights(Path(t.init_weights)))
        except RuntimeError as e:
            raise ConfigError(
                "trainer.init_weights",
                f"{t.init_weights} does not fit the model "
                f"({generator.config}): {str(e).splitlines()[0]}",
            ) from None
    elif isinstance(loss_fn, DistillLoss) and not t.resume:
        # Targets are 0..255 images: start at mid-grey, not near 0, where Adam's steps of about
        # trainer.lr would spend the first hundred steps only reaching the teacher's range.
        with torch.no_grad():
            generator.deconv3.conv2d.bias.fill_(127.5)
    c = cfg.consistency
    shifts = shift_views(c, int(t.seed) + d.rank)
    # DDP averages gradients across ranks; `generator` stays the bare net that is saved.
    model = (
        DDP(generator, device_ids=[device.index] if device.type == "cuda" else None)
        if d.enabled
        else generator
    )
    optimizer = torch.optim.Adam(generator.parameters(), lr=float(t.lr))
    first = (
        resume_checkpoint(Path(t.resume), generator, optimizer, sampler, int(t.steps), shifts)
        if t.resume
        else 1
    )
    log.info(
        "generator %s (%d params) on %s; content: %s; loss: %s; weights %s",
        generator.config,
        sum(p.numel() for p in generator.parameters()),
        device,
        source.description,
        loss_described,
        weights,
    )

    writer = open_writer(run_dir / "tensorboard") if t.tensorboard and d.main else None
    checkpoints: list[Path] = []
    start = time.perf_counter()
    bar = tqdm(
        range(first, int(t.steps) + 1),
        desc="artem-train",
        unit="step",
        mininterval=2.0,
        disable=not d.main,
    )
    progress = StepLog(t, d, device, writer, bar, first, start)
    precision = str(t.precision)
    scaler = grad_scaler(precision, device)
    for step in bar:
        x = sampler.next().to(device)
        with autocast(precision, device):
            if shifts is None:
                content, style = loss_fn(model(x), x)
                consistency = None
            else:  # the crop and its moved view in one batch; the perceptual loss on the first
                views, move = shifts.views(x)
                y = model(views)
                content, style = loss_fn(y[: x.shape[0]], views[: x.shape[0]])
                consistency = float(c.weight) * shifts.loss(y.float(), move)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(content + style + (consistency if consistency is not None else 0)).backward()
        scaler.step(optimizer)
        scaler.update()

        progress.step(
            step,
            content.item(),
            style.item(),
            consistency.item() if consistency is not None else None,
        )
        if t.checkpoint_every and step % int(t.checkpoint_every) == 0 and d.main:
            checkpoints.append(Path(cfg.paths.checkpoint_dir) / f"step_{step:06d}.pt")
            save_checkpoint(checkpoints[-1], step, generator, optimizer, sampler, shifts)
    bar.close()
    seconds, last = time.perf_counter() - start, progress.last
    grid_path = run_dir / "samples.png"
    if not d.main:  # rank 0 exports; the others return its entry
        leave(d)
        entry = read_entry(Path(cfg.export.models_dir) / cfg.export.name)
        return TrainResult(
            dict(entry.card.made_by["metrics"]), generator, entry, run_dir, grid_path, checkpoints
        )

    samples = [center_square(full[i], int(t.sample_size)) for i in range(min(4, len(full)))]
    grid = sample_grid(generator, samples, style_img, teacher=getattr(loss_fn, "teacher", None))
    grid.save(grid_path)
    log_grid(writer, int(t.steps), grid)
    if writer is not None:
        writer.close()

    metrics = run_metrics(t, first, seconds, last, d.world_size)
    distilled = isinstance(loss_fn, DistillLoss)
    terms = ("pixel", "detail") if distilled else ("content", "style")
    target = (
        f"Targets: the teacher's outputs ({loss_fn.teacher.description})"
        if distilled
        else f"Style image: {cfg.style.image} (seed {cfg.style.seed}, size {cfg.style.size})"
    )
    notes = (
        f"Loss: {loss_described}. Content: {source.description}. {target}. Trained {t.steps} steps, "
        f"batch {t.batch_size}, {t.image_size}px crops, {t.precision}, on {device}"
        f"{f' x {d.world_size} ranks (DDP)' if d.enabled else ''} "
        f"({torch.get_num_threads()} threads) in {seconds:.0f} s; final (last {t.log_every} steps) "
        f"{terms[0]} loss {last['content']:.4g}, {terms[1]} loss {last['style']:.4g} "
        f"(weights {weights})." + consistency_note(cfg, last) + init_note(t)
    )
    made_by = {
        "command": command or "artem_training.train.train(cfg)",
        "config": OmegaConf.to_container(cfg),
        "metrics": metrics,
        "loss_network": loss_described,
        "pretrained_loss_network": pretrained,
        "device": str(device),
        "precision": str(t.precision),
        "world_size": d.world_size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    licence = f"{DISTILLED_NOTE} {loss_fn.teacher.licence}" if distilled else LICENSE_NOTE
    entry = export_entry(
        generator,
        Path(cfg.export.models_dir),
        cfg.export.name,
        cfg.export.display_name,
        made_by,
        notes,
        source=f"artem-train ({loss_described})",
        fp16=bool(cfg.export.fp16),
        overwrite=bool(cfg.export.overwrite),
        onnx=bool(cfg.export.onnx),
        licence=licence,
    )
    log.info("exported %s; samples in %s; %s", entry.path, grid_path, metrics)
    leave(d)
    return TrainResult(metrics, generator, entry, run_dir, grid_path, checkpoints)


def build_loss(cfg: DictConfig, device: torch.device) -> tuple[torch.nn.Module, str, bool, str]:
    """(loss, what it is in words, whether its network is pretrained, its weights in words).
    A `teacher` makes it distillation (loss=distill); otherwise the VGG-16 perceptual loss,
    with ImageNet weights when present, else the random-weight fallback and its weights."""
    if cfg.get("teacher") is not None:
        teacher = build_data(cfg, "teacher")
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


def consistency_note(cfg: DictConfig, last: dict[str, float]) -> str:
    """The card's sentence on the shift-consistency loss, when it was on."""
    c = cfg.consistency
    if not float(c.weight):
        return ""
    return (
        f" Shift consistency (comfort in a headset): weight {float(c.weight):g}, moves up to "
        f"{c.max_shift} px, noise {float(c.noise):g} grey levels, final loss "
        f"{last.get('consistency', float('nan')):.4g}."
    )


def init_note(t: DictConfig) -> str:
    return f" Started from the weights of {t.init_weights}." if t.get("init_weights") else ""


def instantiate_generator(cfg: DictConfig) -> Generator:
    """The `model` group's `_target_` builds the GeneratorConfig; the net is built from it."""
    return Generator(instantiate(cfg.model))
