"""`artem bench`: what to measure (sizes, variants, styles), defaults that fit the device, and
the table and JSON at the end."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..models.card import ModelCard
from ..models.generator import Generator, GeneratorConfig
from ..models.store import write_entry
from ..registry import Registry
from .model_bench import BASELINE, Variant, bench_model, default_variants, server_default_variant
from .report import Row, environment, fill_ratios, table, write_json
from .sizes import FrameSize, parse_size

log = logging.getLogger(__name__)

RANDOM_STYLE = "random-generator"
RANDOM_ADAIN = "random-adain"


@dataclass
class BenchSettings:
    sizes: list[str] = field(default_factory=list)  # empty: by device
    variants: list[str] = field(default_factory=list)  # empty: every available one
    e2e_variants: list[str] = field(
        default_factory=list
    )  # empty: eager fp32 and the server's default
    styles: list[str] = field(default_factory=list)  # empty: a full-size random-weight generator
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


def random_generator_entry(models_dir: Path, seed: int = 0) -> str:
    """Write a full-size (width 32, 5 residual blocks) generator with random weights: the
    timing of a real style, whatever its weights, without shipping one."""
    torch.manual_seed(seed)
    net = Generator(GeneratorConfig())
    with (
        torch.no_grad()
    ):  # spread the output over 0..255 as a trained net's is, so PSNR means something
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
        net.deconv3.conv2d.weight.mul_(40.0)
        net.deconv3.conv2d.bias.fill_(128.0)
    card = ModelCard(
        name=RANDOM_STYLE,
        kind="generator",
        architecture=net.config.to_dict(),
        source="artem bench: random weights",
        license="none: random numbers",
    )
    write_entry(models_dir, card, net.state_dict(), overwrite=True)
    return RANDOM_STYLE


def random_adain_entries(models_dir: Path, seed: int = 0) -> str:
    """An adain model with random weights and one style on it (statistics of a photograph):
    the timing of any adain style (VGG-19 to relu4_1 and its decoder mirror)."""
    from skimage import data

    from ..models.adain import AdaINNet
    from ..models.adain_store import load_adain_model, write_adain_model, write_adain_style
    from ..models.adain_style import compute_style_stats
    from ..models.store import read_entry

    torch.manual_seed(seed)
    entry = write_adain_model(
        models_dir,
        "random-adain-net",
        AdaINNet(),
        source="artem bench: random weights",
        made_by={"command": "artem bench"},
        license="none: random numbers",
        notes="for timing only",
        overwrite=True,
    )
    model = load_adain_model(read_entry(entry.path))
    style = data.coffee()
    write_adain_style(
        models_dir,
        RANDOM_ADAIN,
        model,
        compute_style_stats(model.net, style),
        style.shape[:2],
        source="artem bench: scikit-image coffee",
        overwrite=True,
    )
    return RANDOM_ADAIN


SYNTHETIC = {RANDOM_STYLE: random_generator_entry, RANDOM_ADAIN: random_adain_entries}


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
        styles = list(s.styles) or [RANDOM_STYLE]
        if models_dir is None:  # the synthetic styles, written for this run
            models_dir = Path(tmp) / "models"
            for name in styles:
                if name not in SYNTHETIC:
                    raise ValueError(
                        f"--style {name}: without --models-dir, expected one of {', '.join(SYNTHETIC)}"
                    )
                SYNTHETIC[name](models_dir)
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
