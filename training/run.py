"""The run scaffold every training kind shares, so a kind module holds only its net, its losses
and its card. `Run(cfg)` makes the run folder, sets torch's threads and seed, joins a torchrun
job when `trainer.ddp` (DDP), and owns what follows: the crop sampler over this rank's content
shard, the shift-consistency draws, checkpoints and `trainer.resume`, the progress bar, log and
TensorBoard, the sample grid, the metrics and the hand-over of rank 0's entry to the other ranks.

A kind's `train(cfg)` reads, in order: `run = Run(cfg)`, `run.content()`, build the net,
`run.resume(...)` when `trainer.resume` is set, `for step in run.steps(...)`:
`run.report(...)` and `run.checkpoint(...)`; then `run.finish()`, export, `run.done(...)`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

from artem_server.models.store import Entry, read_entry

from .consistency import shift_views
from .data import CropSampler
from .distributed import Dist, Shard, join, leave
from .errors import ConfigError
from .progress import StepLog
from .tb import log_grid, open_writer

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What every kind's `train` returns: metrics plus everything it built and wrote.
    `extra_entries` are entries written beside the model (adain's default styles)."""

    metrics: dict[str, float]
    model: torch.nn.Module
    entry: Entry
    run_dir: Path
    sample_grid: Path
    checkpoints: list[Path] = field(default_factory=list)
    extra_entries: list[Entry] = field(default_factory=list)


def resolve(cfg: DictConfig) -> DictConfig:
    """A fully resolved copy; a missing `???` value raises naming its key."""
    return OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def build_group(node: DictConfig) -> Any:
    """Instantiate a config group's `_target_` (`data`, `style`, `teacher`). Hydra wraps every
    error in an InstantiationException; ours are re-raised bare so the message starts with
    the key."""
    try:
        return instantiate(node)
    except InstantiationException as e:
        if isinstance(e.__cause__, ConfigError):
            raise e.__cause__ from None
        raise


def load_fitting(net: torch.nn.Module, state: dict[str, torch.Tensor], key: str, what: str) -> None:
    """`net.load_state_dict(state)`; weights of another shape fail naming the config `key` that
    pointed at them. `what`: the file, for the message."""
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        config = getattr(net, "config", None)
        shape = f" ({config})" if config is not None else ""
        raise ConfigError(
            key, f"{what} does not fit the model{shape}: {str(e).splitlines()[0]}"
        ) from None


def init_weights(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """`trainer.init_weights`: the weights a run starts from, as fp32 tensors: a models-directory
    entry's (those under `prefix`, which is stripped: "decoder." for an adain model) or a run
    checkpoint's net (whatever key the kind saved it under)."""
    path = Path(path)
    if path.is_dir():
        sd = read_entry(path).load_weights()
        return {k[len(prefix) :]: v.float() for k, v in sd.items() if k.startswith(prefix)}
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    nets = [v for k, v in ckpt.items() if k not in ("step", "optimizer", "rng")]
    sd = nets[0] if "step" in ckpt and nets else ckpt
    return {k: v.float() for k, v in sd.items()}


def consistency_note(cfg: DictConfig, last: dict[str, float]) -> str:
    """The card's sentence on the shift-consistency loss, when it was on."""
    c = cfg.consistency
    if not float(c.weight):
        return ""
    return (
        f" Shift consistency (comfort in a headset): weight {float(c.weight):g}, moves up to "
        f"{c.max_shift} px, noise {float(c.noise):g} grey levels, final loss "
        f"{last.get('consistency', float('nan')):.4g}."
        + (
            f" Fine-detail floor: weight {float(c.detail_weight):g} below a gain of "
            f"{float(c.detail_target):g}."
            if float(c.detail_weight)
            else ""
        )
    )


def init_note(t: DictConfig) -> str:
    if not t.get("init_weights"):
        return ""
    narrowed = " (narrowed: each layer's strongest channels)" if t.get("init_narrowed") else ""
    return f" Started from the weights of {t.init_weights}{narrowed}."


class Run:
    """One training run of any kind (see the module docstring for the order of calls)."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg, self.t = cfg, cfg.trainer
        t = self.t
        self.run_dir = Path(cfg.paths.output_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if t.threads:
            torch.set_num_threads(int(t.threads))
        torch.manual_seed(int(t.seed))
        self.d, self.device = (
            join(pick_device(t.device)) if t.ddp else (Dist(), pick_device(t.device))
        )
        self.seed = int(t.seed) + self.d.rank  # each rank draws its own crops (and styles)
        self.shifts = shift_views(cfg.consistency, self.seed)
        self.grid_path = self.run_dir / "samples.png"
        self.checkpoints: list[Path] = []
        self.first = 1  # the first step this run takes (after a resume: the saved step + 1)
        self.writer: Any | None = None
        self.seconds, self.last = 0.0, {}

    @property
    def on_devices(self) -> str:
        """Where it trained, for the card's notes: `cpu`, `cuda:0 x 8 ranks (DDP)`."""
        ranks = f" x {self.d.world_size} ranks (DDP)" if self.d.enabled else ""
        return f"{self.device}{ranks}"

    def content(self) -> Any:
        """The content images (all of them, for the sample grid); `self.source` is this rank's
        shard and `self.sampler` draws random crops from it."""
        t = self.t
        self.full = build_group(self.cfg.data)
        self.source = Shard(self.full, self.d) if self.d.enabled else self.full
        self.sampler = CropSampler(
            self.source, int(t.image_size), int(t.batch_size), float(t.max_zoom), self.seed
        )
        return self.full

    def log_built(self, what: str, net: torch.nn.Module, details: str) -> None:
        """One log line on what is about to train: the net, its trainable size, where, on what."""
        n = sum(p.numel() for p in net.parameters() if p.requires_grad)
        log.info("%s (%d trainable params) on %s; %s", what, n, self.on_devices, details)

    def parallel(self, net: torch.nn.Module) -> torch.nn.Module:
        """`net` under DistributedDataParallel, which averages its gradients over the ranks, or
        `net` itself in a single process. Save and export the bare net, never the wrapper."""
        if not self.d.enabled:
            return net
        return DDP(net, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def draws(self) -> dict[str, Any]:
        """The random state a resumed run needs to draw what this one would have: the crop
        sampler's, and with shift consistency its moves and torch's generator (its noise)."""
        rng: dict[str, Any] = {"crops": list(self.sampler.rng.getstate())}
        if self.shifts is not None:
            rng["shifts"], rng["torch"] = self.shifts.state(), torch.get_rng_state()
        return rng

    def checkpoint(self, step: int, state: dict[str, Any], rng: dict[str, Any] | None = None):
        """Every `trainer.checkpoint_every` steps, rank 0 writes `checkpoints/step_NNNNNN.pt`:
        the step, the kind's `state` (its net's weights under the kind's key, the optimizer's
        state) and the random draws (`rng`: the kind's own beside the shared ones). Plain
        tensors, numbers and lists only, so `torch.load(weights_only=True)` reads it back."""
        every = self.t.checkpoint_every
        if not (every and step % int(every) == 0 and self.d.main):
            return
        path = Path(self.cfg.paths.checkpoint_dir) / f"step_{step:06d}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"step": step, **state, "rng": {**self.draws(), **(rng or {})}}, path)
        self.checkpoints.append(path)

    def resume(self, load: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Go on from `trainer.resume`: `load(checkpoint)` restores the kind's weights and
        optimizer state (`load_fitting` names the key when they do not fit); the shared draws
        are restored here and `self.first` becomes the saved step + 1. Returns the checkpoint
        for the kind's own draws."""
        path, steps = Path(self.t.resume), int(self.t.steps)
        if not path.is_file():
            raise ConfigError("trainer.resume", f"checkpoint {str(path)!r} does not exist")
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        step = int(ckpt["step"])
        if step >= steps:
            raise ConfigError(
                "trainer.resume",
                f"{path} is at step {step}; trainer.steps={steps} leaves nothing to run",
            )
        load(ckpt)
        rng = ckpt.get("rng")
        if rng is not None:
            crops = rng["crops"]
            self.sampler.rng.setstate((crops[0], tuple(crops[1]), crops[2]))
            if self.shifts is not None and "shifts" in rng:
                self.shifts.set_state(rng["shifts"])
            if self.shifts is not None and "torch" in rng:
                torch.set_rng_state(rng["torch"])
        else:  # checkpoints written before the draws were saved
            log.warning("%s has no crop-sampler state: the resumed run draws other crops", path)
        log.info("resumed from %s at step %d", path, step)
        self.first = step + 1
        return ckpt

    def steps(self, desc: str, mininterval: float = 2.0) -> Iterator[int]:
        """Steps `self.first`..`trainer.steps` under a progress bar (rank 0's), with the log and
        TensorBoard writer open; `report` each step's losses. Times the loop."""
        t, d = self.t, self.d
        self.writer = (
            open_writer(self.run_dir / "tensorboard") if t.tensorboard and d.main else None
        )
        start = time.perf_counter()
        bar = tqdm(
            range(self.first, int(t.steps) + 1),
            desc=desc,
            unit="step",
            mininterval=mininterval,
            disable=not d.main,
        )
        self.progress = StepLog(t, d, self.device, self.writer, bar, self.first, start)
        try:
            yield from bar
        finally:
            bar.close()
            self.seconds, self.last = time.perf_counter() - start, self.progress.last

    def report(
        self, step: int, content: float, style: float, consistency: float | None = None
    ) -> None:
        """A step's weighted losses (0-d tensors' `.item()`s): the bar, the log, TensorBoard."""
        self.progress.step(step, content, style, consistency)

    def metrics(self) -> dict[str, float]:
        """What a finished run reports (card, metrics.json, sweep summary): steps, time, speed over
        the steps this run took, and the last logged losses."""
        t, last = self.t, self.last
        images = (int(t.steps) - self.first + 1) * int(t.batch_size) * self.d.world_size
        metrics = {
            "steps": float(t.steps),
            "seconds": round(self.seconds, 1),
            "resumed_at": float(self.first - 1),
            "images_per_s": round(images / self.seconds, 3),
            "content_loss": last["content"],
            "style_loss": last["style"],
            "loss": sum(last.values()),
        }
        if "consistency" in last:
            metrics["consistency_loss"] = last["consistency"]
        return metrics

    def follow(self, model: torch.nn.Module, extra_names: list[str] | None = None) -> RunResult:
        """On ranks other than 0, which do not export: wait for rank 0's entries and return them."""
        leave(self.d)
        e = self.cfg.export
        entry = read_entry(Path(e.models_dir) / e.name)
        extra = [read_entry(Path(e.models_dir) / n) for n in extra_names or []]
        metrics = dict(entry.card.made_by["metrics"])
        return RunResult(
            metrics, model, entry, self.run_dir, self.grid_path, self.checkpoints, extra
        )

    def save_grid(self, grid: Image.Image) -> None:
        """The run's `samples.png` (and TensorBoard's `samples` image); closes the writer."""
        grid.save(self.grid_path)
        log_grid(self.writer, int(self.t.steps), grid)
        if self.writer is not None:
            self.writer.close()

    def done(
        self,
        model: torch.nn.Module,
        entry: Entry,
        metrics: dict[str, float],
        extra: list[Entry] | None = None,
    ) -> RunResult:
        """Rank 0, after its export: wait for the other ranks, leave the job, return the result."""
        log.info("exported %s; samples in %s; %s", entry.path, self.grid_path, metrics)
        leave(self.d)
        return RunResult(
            metrics, model, entry, self.run_dir, self.grid_path, self.checkpoints, extra or []
        )
