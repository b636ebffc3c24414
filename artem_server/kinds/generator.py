"""The generator kind: Johnson et al.'s feed-forward net, one net per style (models/generator.py).
Its entries are styles; its strength blends pixels; it imports pytorch/examples'
fast_neural_style `.pth`/`.model` checkpoints (modern and 2017 legacy)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..models.card import ModelCard
from ..models.generator import Generator, GeneratorConfig
from ..models.importers import generator_from_state_dict, import_generator
from ..models.onnx_export import export_onnx
from ..models.onnx_shipped import ShippedGraph, attach, attached
from ..models.store import Entry, write_entry
from .base import Imported, Kind

SUFFIXES = (".pth", ".model", ".pt")


class GeneratorKind(Kind):
    name = "generator"
    summary = "Johnson et al. feed-forward net, one net per style"
    module_types = (Generator,)
    import_help = "one fast_neural_style checkpoint (.pth/.model)"
    import_rank = 10  # it reads any single PyTorch file: the other kinds recognise theirs first

    def check_card(self, card: ModelCard) -> None:
        GeneratorConfig.from_dict(card.architecture)

    def load(self, entry: Entry, base: object = None) -> nn.Module:
        expected = GeneratorConfig.from_dict(entry.card.architecture)
        net, _ = generator_from_state_dict(entry.load_weights(), antialias=expected.antialias)
        if net.config != expected:
            raise ValueError(f"{entry.path}: weights are {net.config}, card says {expected}")
        net = net.eval().requires_grad_(False)
        attach(net, entry.path)
        return net

    def export_graph(self, entry: Entry) -> bytes:
        return export_onnx(self.load(entry))

    def shipped_graph(self, module: nn.Module) -> ShippedGraph | None:
        graph = attached(module)
        return None if graph is None else ShippedGraph(graph, module)

    def optimized_mode(self, module: nn.Module, kernels: bool) -> str:
        # fused needs the CuPy kernels to win; without them compile is faster for this net
        return "fused" if kernels else "compile"

    def fused(self, module: nn.Module, use_kernels: bool):
        from ..backends.fused_generator import FusedGenerator

        return FusedGenerator(module, use_kernels=use_kernels)

    def import_files(
        self,
        paths: list[Path],
        name: str,
        models_dir: Path,
        *,
        license: str = "",
        overwrite: bool = False,
    ) -> Imported | None:
        if len(paths) != 1 or Path(paths[0]).suffix.lower() not in SUFFIXES:
            return None
        entry, dropped = import_generator(
            paths[0], name, models_dir, license=license, overwrite=overwrite
        )
        note = f" (dropped {len(dropped)} legacy InstanceNorm running-stat keys)" if dropped else ""
        return Imported(
            entry,
            f"imported {paths[0]} as style {entry.name!r} ({self.name}) into {entry.path}{note}",
        )

    has_bench_entries = True

    def bench_entries(self, models_dir: Path, style: str, seed: int = 0) -> None:
        """A full-size (width 32, 5 residual blocks) net with random weights: the timing of a
        real style, whatever its weights, without shipping one."""
        torch.manual_seed(seed)
        net = Generator(GeneratorConfig())
        with torch.no_grad():  # spread the output over 0..255 as a trained net's is (for PSNR)
            for m in net.modules():
                if isinstance(m, torch.nn.InstanceNorm2d):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
            net.deconv3.conv2d.weight.mul_(40.0)
            net.deconv3.conv2d.bias.fill_(128.0)
        card = ModelCard(
            name=style,
            kind=self.name,
            architecture=net.config.to_dict(),
            source="artem bench: random weights",
            license="none: random numbers",
        )
        write_entry(models_dir, card, net.state_dict(), overwrite=True)


KIND = GeneratorKind()
