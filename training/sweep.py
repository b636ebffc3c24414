"""Hydra multirun support: each job leaves a `metrics.json` in its own folder, and a Callback
reads them all when the sweep ends and writes one table (`summary.md`, `summary.json`).

Why files and not return values: Hydra's launchers (the basic one, submitit on SLURM) run jobs
in other processes or machines; the job folders are what every launcher has in common.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

JOB_FILE = "metrics.json"
COLUMNS = ("job", "overrides", "loss", "content_loss", "style_loss", "seconds", "model")


def job_name(name: str, job_num: int) -> str:
    """The models-directory name of a multirun job's entry: one entry per job, never a clash."""
    return f"{name}-{job_num}"


def write_job_record(
    run_dir: Path,
    job_num: int | None,
    overrides: list[str],
    metrics: dict[str, float],
    entry_path: Path,
) -> Path:
    """`run_dir/metrics.json`: what the sweep summary reads back."""
    path = run_dir / JOB_FILE
    record = {
        "job": job_num,
        "overrides": overrides,
        "metrics": metrics,
        "model": str(Path(entry_path).resolve()),
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_jobs(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job record under `sweep_dir`, in job order; a job folder without one (a failed job)
    is listed with its folder name and no metrics."""
    rows = []
    for sub in sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
    ):
        record = sub / JOB_FILE
        if record.is_file():
            rows.append(json.loads(record.read_text()))
        elif (sub / ".hydra").is_dir():
            rows.append(
                {
                    "job": sub.name,
                    "overrides": [],
                    "metrics": {},
                    "model": "(failed: no metrics.json)",
                }
            )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table, one row per job."""

    def cell(row: dict[str, Any], col: str) -> str:
        if col in ("job", "model"):
            return str(row.get(col))
        if col == "overrides":
            return " ".join(row.get("overrides", [])) or "-"
        value = row.get("metrics", {}).get(col)
        return "-" if value is None else f"{value:.4g}"

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r, c) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


class SweepSummary(Callback):
    """At the end of `artem-train -m ...`: print the jobs' final losses and where each model went,
    and write them to `<sweep dir>/summary.md` and `summary.json`."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            log.info("sweep summary: no sweep folder %s", sweep_dir)
            return
        rows = read_jobs(sweep_dir)
        table = format_table(rows)
        (sweep_dir / "summary.md").write_text(f"# artem-train sweep {sweep_dir}\n\n{table}\n")
        (sweep_dir / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
        print(
            f"\nartem-train sweep: {len(rows)} jobs, summary in "
            f"{sweep_dir.resolve() / 'summary.md'}\n{table}"
        )
