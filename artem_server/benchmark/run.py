"""`artem bench`: what to measure (sizes, variants, styles), defaults that fit the device, and
the table and JSON at the end."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..kinds import Kind, all_kinds, default_kind
from ..registry import Registry
from .model_bench import BASELINE, Variant, bench_model, default_variants, server_default_variant
from .report import Row, environment, fill_ratios, table, write_json
from .sizes import FrameSize, parse_size

log = logging.getLogger(__name__)


@dataclass
class BenchSettings:
    sizes: list[str] = field(default_factory=list)  # empty: by device
    variants: list[str] = field(default_factory=list)  # empty: every available one
    e2e_variants: list[str] = field(
        default_factory=list
    )  # empty: eager fp32 and the server's default
    styles: list[str] = field(default_factory=list)  # empty: random-<the default kind>
    models_dir: Path | None = None
    device: str = "auto"
    what: str = "all"  # model | e2e | all
    warmup: int | None = None
    repeats: int | None = None
    e2e_frames: int | None = None
    transports: list[str] = field(default_factory=list)
    json_path: Path | None = None
    profile_top: int = 0  # > 0: print each model row's top operators (torch.profiler)

    def resolved(self, device: torch.device) -> BenchSettings:
        """Fill the device's defaults: full VR sizes and 20 repeats on CUDA; a small stereo
        frame and 5 repeats on CPU, where one Vive eye takes seconds."""
        cuda = device.type == "cuda"
        s = BenchSettings(**self.__dict__)
        s.sizes = s.sizes or (["quest2-stereo", "vive-stereo"] if cuda else ["small-stereo"])
        s.warmup = s.warmup if s.warmup is not None else (5 if cuda else 1)
        s.repeats = s.repeats if s.repeats is not None else (20 if cuda else 5)
        s.e2e_frames = s.e2e_frames if s.e2e_frames is not None else (30 if cuda else 5)
        return s


def synthetic_styles() -> dict[str, Kind]:
    """`random-<kind>` for each kind that can write a random-weight style to time: what
    `--style` may name without `--models-dir` (the default kind's first)."""
    return {f"random-{k.name}": k for k in all_kinds() if k.has_bench_entries}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_bench(settings: BenchSettings) -> list[Row]:
    device = resolve_device(settings.device)
    s = settings.resolved(device)
    sizes: list[FrameSize] = [parse_size(t) for t in s.sizes]
    variants = [Variant.parse(t) for t in s.variants] if s.variants else default_variants(device)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="artem-bench-") as tmp:
        models_dir = s.models_dir
        styles = list(s.styles) or [f"random-{default_kind().name}"]
        if models_dir is None:  # the synthetic styles, written for this run
            models_dir = Path(tmp) / "models"
            synthetic = synthetic_styles()
            for name in styles:
                if name not in synthetic:
                    raise ValueError(
                        f"--style {name}: without --models-dir, expected one of "
                        f"{', '.join(synthetic)}"
                    )
                synthetic[name].bench_entries(models_dir, name)
        registry = Registry(models_dir)
        if s.what in ("model", "all"):
            for style in styles:
                model = registry.get(style, "--style").model
                for size in sizes:
                    rows += bench_model(
                        model, style, size, variants, device, s.warmup, s.repeats, s.profile_top
                    )
        if s.what in ("e2e", "all"):
            from .e2e_bench import bench_e2e, supported_transports

            transports = s.transports or supported_transports()[-1:]
            e2e_variants = [Variant.parse(t) for t in s.e2e_variants] or list(
                dict.fromkeys([BASELINE, server_default_variant(device)])
            )
            if BASELINE not in e2e_variants:
                e2e_variants.insert(0, BASELINE)
            for size in sizes:
                rows += bench_e2e(
                    models_dir,
                    ["identity"] + styles,
                    size,
                    e2e_variants,
                    str(device),
                    s.e2e_frames,
                    s.warmup,
                    transports,
                )
        registry.close()
    fill_ratios(rows)
    print(table(rows), flush=True)
    if s.json_path is not None:
        write_json(
            s.json_path, rows, environment(device), {k: str(v) for k, v in s.__dict__.items()}
        )
        print(f"artem bench: wrote {s.json_path}", flush=True)
    return rows
