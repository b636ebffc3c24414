"""`model.kind: xnor`: the binary twin of a trained generator, from a composed config to an
xnor entry (artem_server/models/xnor.py).

Recipe: the student starts as the teacher generator (its real-valued layers copied, each binary
conv's latent weights from the teacher's conv at the same place) and is distilled from it:
for each crop the teacher's output is the target (pixel and gradient L1, loss=distill's terms)
plus the perceptual term, MSE between VGG-16 features (`loss.content_layer`) of the student's
and the teacher's outputs. Signs train through straight-through estimators (ApproxSign for
activations, identity for weights; models/xnor.py). The entry stores the packed net; its card's
notes give the weights file's size against the teacher's (an fp16 generator entry) and PSNR /
SSIM against the teacher on scikit-image's photographs; `made_by.teacher` names the teacher and
the SHA-256 of its weights, so a twin of a since-retrained teacher can be told apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from artem_server.kinds import kind_of
from artem_server.models.card import WEIGHTS_FILE
from artem_server.models.generator import Generator
from artem_server.models.store import Entry, read_entry
from artem_server.models.xnor import XnorGenerator

from ..data import center_square
from ..errors import ConfigError
from ..export import DISTILLED_NOTE, EntryKind, export_entry, sample_grid
from ..losses import DistillLoss, vgg_input
from ..run import Run, RunResult, load_fitting
from ..vgg import build_vgg16

ENTRY = EntryKind("xnor", lambda net: net.config.to_dict())
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # scikit-image's, for the quality figures


def find_entry(spec: str, paths: DictConfig) -> Entry:
    """A generator entry: a folder, or a name in paths.models_dir or the built-in styles."""
    for folder in (
        Path(spec),
        Path(paths.models_dir) / spec,
        Path(paths.builtin_models_dir) / spec,
    ):
        if (folder / "card.json").is_file():
            entry = read_entry(folder)
            if entry.card.kind != "generator":
                raise ConfigError(
                    "model.teacher",
                    f"{spec!r} is {entry.card.kind!r} entry; an xnor twin needs a generator",
                )
            return entry
    raise ConfigError(
        "model.teacher",
        f"{spec!r}: no generator entry there, nor in {paths.models_dir} or the built-in styles",
    )


class GeneratorTeacher:
    """A trained generator entry as a distillation teacher: 0..255 RGB in and out, no grad."""

    def __init__(self, entry: Entry, device: torch.device) -> None:
        self.entry = entry
        self.net: Generator = kind_of(entry.card).load(entry).to(device)
        self.description = f"the generator entry {entry.name!r}"
        self.licence = (
            f"Teacher: ArtEm's generator entry {entry.name!r}; its licence: {entry.card.license}"
        )

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class TwinLoss(torch.nn.Module):
    """DistillLoss (pixel + detail L1 against the teacher's output) plus a perceptual term:
    MSE of VGG-16 features of the student's output against the teacher's. Returns
    (pixel + perceptual, detail) so the scaffold's two reported terms add up to the loss."""

    def __init__(self, teacher: GeneratorTeacher, loss: DictConfig, device: torch.device) -> None:
        super().__init__()
        self.distill = DistillLoss(teacher, float(loss.pixel_weight), float(loss.detail_weight))
        self.teacher = teacher
        self.vgg, self.vgg_described, _ = build_vgg16(
            loss.weights, int(loss.random_fallback.seed), bool(loss.random_fallback.enabled)
        )
        self.vgg = self.vgg.to(device)
        self.layer, self.weight = str(loss.content_layer), float(loss.perceptual_weight)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pixel, detail = self.distill(y, x)
        if not self.weight:
            return pixel, detail
        with torch.no_grad():
            target = self.vgg(vgg_input(self.teacher(x)), [self.layer])[self.layer]
        feats = self.vgg(vgg_input(y), [self.layer])[self.layer]
        return pixel + self.weight * F.mse_loss(feats, target), detail


def quality(student: torch.nn.Module, teacher: torch.nn.Module, names=PHOTOS, size: int = 256):
    """{photo: (PSNR dB, SSIM)} of the student's output against the teacher's, both clamped and
    rounded to 8 bits, on the centre `size` squares of scikit-image's photographs."""
    from skimage import data
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    out = {}
    for name in names:
        img = center_square(Image.fromarray(getattr(data, name)()), size)
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            a, b = (
                n.eval()(x).clamp(0, 255).round()[0].permute(1, 2, 0).byte().numpy()
                for n in (teacher, student)
            )
        out[name] = (
            float(peak_signal_noise_ratio(a, b, data_range=255)),
            float(structural_similarity(a, b, channel_axis=2, data_range=255)),
        )
    return out


def stored_size(net: torch.nn.Module, fp16: bool) -> int:
    """Bytes of the weights file an entry of `net` gets (floats as fp16 when `fp16`)."""
    from safetensors.torch import save

    half = torch.float16 if fp16 else torch.float32
    state = net.state_dict()
    return len(save({k: v.to(half) if v.is_floating_point() else v for k, v in state.items()}))


def train(cfg: DictConfig, command: str | None = None) -> RunResult:
    """Distil and export the xnor twin of `model.teacher`. `cfg` is resolved."""
    t, m = cfg.trainer, cfg.model
    if int(t.image_size) % Generator.size_multiple:
        raise ConfigError("trainer.image_size", f"{t.image_size}: expected a multiple of 4")
    source = find_entry(str(m.teacher), cfg.paths)
    teacher_file = source.path / WEIGHTS_FILE  # hashed as loaded: the card says what it twins
    teacher_sha256 = hashlib.sha256(teacher_file.read_bytes()).hexdigest()
    run = Run(cfg)
    full = run.content()
    teacher = GeneratorTeacher(source, run.device)
    loss_fn = TwinLoss(teacher, cfg.loss, run.device)
    net = XnorGenerator.from_generator(teacher.net, float(m.gain)).to(run.device)
    model = run.parallel(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=float(t.lr))
    if t.resume:

        def load(ckpt: dict[str, Any]) -> None:
            load_fitting(net, ckpt["xnor"], "trainer.resume", t.resume)
            optimizer.load_state_dict(ckpt["optimizer"])

        run.resume(load)
    described = (
        f"distillation from {teacher.description} (pixel and gradient L1, "
        f"{loss_fn.layer} features of {loss_fn.vgg_described})"
    )
    run.log_built(f"xnor {net.config}", net, f"content: {run.source.description}; {described}")
    for step in run.steps("artem-train xnor"):
        x = run.sampler.next().to(run.device)
        main, detail = loss_fn(model(x), x)
        optimizer.zero_grad(set_to_none=True)
        (main + detail).backward()
        optimizer.step()
        run.report(step, main.item(), detail.item())
        run.checkpoint(step, {"xnor": net.state_dict(), "optimizer": optimizer.state_dict()})
    packed = net.packed()
    if not run.d.main:
        return run.follow(packed)

    samples = [center_square(full[i], int(t.sample_size)) for i in range(min(4, len(full)))]
    first = teacher(
        torch.from_numpy(samples[0].copy()).permute(2, 0, 1)[None].float().to(run.device)
    )
    corner = first[0].clamp(0, 255).round().byte().permute(1, 2, 0).cpu().numpy()
    run.save_grid(sample_grid(packed, samples, corner, teacher=teacher.net.cpu()))
    scores = quality(packed, teacher.net.cpu())
    psnr = np.mean([p for p, _ in scores.values()])
    ssim = np.mean([s for _, s in scores.values()])
    metrics, last = run.metrics(), run.last
    metrics.update(psnr_vs_teacher=float(psnr), ssim_vs_teacher=float(ssim))
    teacher_bytes = teacher_file.stat().st_size
    notes = (
        f"The binary twin of the generator entry {source.name!r} (its real-valued layers, "
        f"binary residual convs). Loss: {described}. Content: {run.source.description}. "
        f"Trained {t.steps} steps, batch {t.batch_size}, {t.image_size}px crops, on "
        f"{run.on_devices} ({torch.get_num_threads()} threads) in {run.seconds:.0f} s; final "
        f"(last {t.log_every} steps) pixel+perceptual loss {last['content']:.4g}, detail loss "
        f"{last['style']:.4g}. Against the teacher on scikit-image's "
        f"{', '.join(scores)} (256 px centres): PSNR {psnr:.2f} dB, SSIM {ssim:.3f}."
    )
    made_by = {
        "command": command or "artem_training.train.train(cfg)",
        "config": OmegaConf.to_container(cfg),
        "metrics": metrics,
        "quality_vs_teacher": {k: {"psnr_db": p, "ssim": s} for k, (p, s) in scores.items()},
        # a retrained teacher makes the twin and these figures stale (a test checks the shipped)
        "teacher": {"entry": source.name, "weights_sha256": teacher_sha256},
        "device": str(run.device),
        "torch": torch.__version__,
    }
    e = cfg.export
    size = stored_size(packed, bool(e.fp16))
    notes += (
        f" Weights file: {size / 1024:.0f} KiB (binary convs as packed sign bits, the rest "
        f"{'fp16' if e.fp16 else 'fp32'}), against the fp16 generator's (the teacher's) "
        f"{teacher_bytes / 1024:.0f} KiB ({teacher_bytes / size:.1f}x smaller)."
    )
    entry = export_entry(
        packed,
        ENTRY,
        Path(e.models_dir),
        e.name,
        e.display_name,
        made_by,
        notes,
        source=f"artem-train ({described})",
        fp16=bool(e.fp16),
        overwrite=bool(e.overwrite),
        licence=f"{DISTILLED_NOTE} {teacher.licence}",
    )
    return run.done(packed, entry, metrics)
