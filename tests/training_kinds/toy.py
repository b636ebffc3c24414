"""A training kind written the way a new one is: this one module (plus `model.kind=toy`), on the
shared scaffold, with nothing else in training touched. It teaches a small generator to invert
colours (y = 255 - x, L1), a target that needs no loss network, and exports a generator entry
the server loads. tests/test_training_kinds.py puts this folder on the kinds package's path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from artem_training.data import center_square
from artem_training.export import EntryKind, export_entry, sample_grid
from artem_training.kinds import model_config
from artem_training.run import Run, RunResult, load_fitting
from omegaconf import DictConfig, OmegaConf

from artem_server.models.generator import Generator

ENTRY = EntryKind("generator", lambda net: net.config.to_dict())


def train(cfg: DictConfig, command: str | None = None) -> RunResult:
    t = cfg.trainer
    run = Run(cfg)
    full = run.content()
    net = Generator(model_config(cfg.model)).to(run.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=float(t.lr))
    if t.resume:

        def load(ckpt: dict[str, Any]) -> None:
            load_fitting(net, ckpt["toy"], "trainer.resume", t.resume)
            optimizer.load_state_dict(ckpt["optimizer"])

        run.resume(load)
    model = run.parallel(net)
    for step in run.steps("artem-train toy"):
        x = run.sampler.next().to(run.device)
        loss = F.l1_loss(model(x), 255 - x) / 255
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        run.report(step, loss.item(), 0.0)
        run.checkpoint(step, {"toy": net.state_dict(), "optimizer": optimizer.state_dict()})
    if not run.d.main:
        return run.follow(net)
    samples = [center_square(full[i], int(t.sample_size)) for i in range(2)]
    run.save_grid(sample_grid(net, samples, samples[0]))
    metrics = run.metrics()
    made_by = {"command": command, "config": OmegaConf.to_container(cfg), "metrics": metrics}
    e = cfg.export
    entry = export_entry(
        net,
        ENTRY,
        Path(e.models_dir),
        e.name,
        e.display_name,
        made_by,
        f"A toy: colours inverted, L1, {t.steps} steps on {run.on_devices}.",
        source="artem-train (toy kind)",
        fp16=bool(e.fp16),
        overwrite=bool(e.overwrite),
    )
    return run.done(net, entry, metrics)
