"""trainer.ddp=true: two CPU processes (gloo) train one generator on disjoint shards of the
content; gradients are averaged, so both ranks end with the same weights; rank 0 alone writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from artem_training.app import CONFIG_DIR
from artem_training.distributed import Dist, Shard
from artem_training.errors import ConfigError
from artem_training.train import train
from hydra import compose, initialize_config_dir

from artem_server.models.store import list_entry_dirs, read_entry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny(run_dir: Path, *extra: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            config_name="train",
            overrides=[
                "debug=default",
                f"paths.output_dir={run_dir}",
                "trainer.threads=1",
                "trainer.ddp=true",
                "trainer.tensorboard=false",
                *extra,
            ],
        )


def _as_torchrun_rank(rank: int, port: int) -> None:
    """The environment torchrun gives rank `rank` of a 2-process job on this host."""
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )


def _same_on_both_ranks(tmp_path: Path) -> dict[str, torch.Tensor]:
    """The weights each rank saved, asserted bit-identical; returns rank 0's."""
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    return a


def _rank(rank: int, port: int, run_dir: Path) -> None:
    _as_torchrun_rank(rank, port)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(tiny(run_dir))
    torch.save(result.model.state_dict(), run_dir.parent / f"rank{rank}.pt")


def test_two_ranks_end_with_the_same_weights(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(free_port(), tmp_path / "run"), nprocs=2, join=True)
    a = _same_on_both_ranks(tmp_path)
    entry = read_entry(tmp_path / "run" / "models" / "debug")
    assert entry.card.made_by["world_size"] == 2 and "x 2 ranks (DDP)" in entry.card.notes
    for k, v in entry.load_weights().items():
        torch.testing.assert_close(v, a[k], rtol=0, atol=2e-3)  # fp16 on disk
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step_000002.pt"]


def test_torchrun_through_the_cli(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "artem_training.app",
            "debug=default",
            "trainer.ddp=true",
            "trainer.threads=1",
            "trainer.steps=2",
            "export.name=ddp-cli",
            f"hydra.run.dir={run_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in list_entry_dirs(run_dir / "models")] == ["ddp-cli"]
    assert read_entry(run_dir / "models" / "ddp-cli").card.made_by["world_size"] == 2
    assert (run_dir / "metrics.json").is_file() and (run_dir / "samples.png").is_file()
    assert proc.stdout.count("step 2: content") == 1  # rank 0 alone logs (Hydra logs to stdout)


@pytest.mark.parametrize("override", ["trainer.ddp=yes", "trainer.tensorboard=maybe"])
def test_non_boolean_switch_names_the_key(tmp_path: Path, override: str) -> None:
    with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.")):
        train(tiny(tmp_path / "run", override))


def _adain_rank(rank: int, port: int, run_dir: Path) -> None:
    _as_torchrun_rank(rank, port)
    styles = "+export.styles=[{name: dots, image: 'builtin:mosaic', seed: 5, size: 48}]"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(
            tiny(run_dir, "model=adain", "debug=adain", "loss.pixel_warmup_steps=1", styles)
        )
    torch.save(result.model.decoder.state_dict(), run_dir.parent / f"rank{rank}.pt")
    (run_dir.parent / f"rank{rank}.styles").write_text(
        ",".join(e.name for e in result.extra_entries)
    )


def test_two_adain_ranks_end_with_the_same_decoder(tmp_path: Path) -> None:
    mp.spawn(_adain_rank, args=(free_port(), tmp_path / "run"), nprocs=2, join=True)
    a = _same_on_both_ranks(tmp_path)
    entry = read_entry(tmp_path / "run" / "models" / "debug-adain")
    assert entry.card.made_by["world_size"] == 2 and "x 2 ranks (DDP)" in entry.card.notes
    stored = entry.load_weights()
    for k, v in a.items():
        torch.testing.assert_close(stored[f"decoder.{k}"], v, rtol=0, atol=2e-3)  # fp16 on disk
    assert [p.name for p in list_entry_dirs(tmp_path / "run" / "models")] == ["debug-adain", "dots"]
    assert (tmp_path / "rank1.styles").read_text() == "dots", (
        "the other rank returns rank 0's entries"
    )
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step_000002.pt"]


def test_ddp_without_torchrun_names_the_key(tmp_path: Path, monkeypatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match=r"trainer\.ddp.*torchrun"):
        train(tiny(tmp_path / "run"))


def test_shards_are_disjoint_and_cover_the_source() -> None:
    class Source(list):
        description = "five"

    src = Source(range(5))
    shards = [Shard(src, Dist(r, 2, r, enabled=True)) for r in (0, 1)]
    assert [list(s[i] for i in range(len(s))) for s in shards] == [[0, 2, 4], [1, 3]]
    with pytest.raises(ConfigError, match=r"trainer\.ddp"):
        Shard(Source(range(1)), Dist(0, 2, 0, enabled=True))


def test_slurm_launcher_example_is_valid_yaml_for_the_submitit_plugin() -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(Path(CONFIG_DIR) / "hydra" / "launcher" / "slurm.yaml")
    assert cfg.defaults == ["submitit_slurm"]
    assert cfg.tasks_per_node == 1 and cfg.gpus_per_node == 1 and cfg.timeout_min > 0
