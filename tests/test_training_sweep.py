"""artem-train -m: a two-job sweep through the real CLI gives each job its own folder and entry,
and the summary Callback tabulates both; the table code handles a failed job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from artem_training.sweep import format_table, read_jobs

from artem_server.models.store import read_entry


def test_two_job_multirun_through_the_cli(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "artem_training.app",
            "-m",
            "debug=default",
            "export.name=swept",
            "trainer.steps=1",
            "trainer.threads=1",
            "loss.random_fallback.style_weight=1e3,1e4",
            f"hydra.sweep.dir={sweep}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # not the repo: no cwd reliance
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((sweep / "summary.json").read_text())
    assert [r["job"] for r in rows] == [0, 1]
    for job, weight in ((0, 1e3), (1, 1e4)):
        entry = read_entry(sweep / str(job) / "models" / f"swept-{job}")
        assert entry.card.made_by["config"]["loss"]["random_fallback"]["style_weight"] == weight
        assert rows[job]["model"] == str(entry.path.resolve())
        assert (sweep / str(job) / "samples.png").is_file()
    # Ten times the style weight, same seed and first step: ten times the weighted style loss.
    ratio = rows[1]["metrics"]["style_loss"] / rows[0]["metrics"]["style_loss"]
    assert abs(ratio - 10) < 1e-3
    summary = (sweep / "summary.md").read_text()
    assert "swept-0" in summary and "swept-1" in summary and "summary.md" in proc.stdout


def test_summary_lists_a_failed_job(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "metrics.json").write_text(
        json.dumps({"job": 0, "overrides": ["a=1"], "metrics": {"loss": 2.5}, "model": "/m/x-0"})
    )
    (tmp_path / "1" / ".hydra").mkdir(parents=True)
    rows = read_jobs(tmp_path)
    assert [r["job"] for r in rows] == [0, "1"]
    table = format_table(rows).splitlines()
    assert table[2].startswith("| 0 | a=1 | 2.5 | - |") and "failed" in table[3]


def test_sweep_settings_compose() -> None:
    from artem_training.app import CONFIG_DIR
    from artem_training.sweep import SweepSummary
    from hydra import compose, initialize_config_dir
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True)
    assert get_class(cfg.hydra.callbacks.sweep_summary._target_) is SweepSummary
    assert OmegaConf.to_container(cfg.hydra.sweep)["subdir"] == "${hydra.job.num}"
    assert cfg.hydra.job.chdir is False
