"""The xnor kind: a generator whose residual blocks use binary weights and activations
(models/xnor.py), its binary convs run by ArtEm's own kernels (artem_kernels.xnor).

Entries store the packed net (int32 sign bits, the real-valued layers in fp16); `artem-train
model=xnor` makes them as the binary twin of a trained generator. On CUDA the default run is
torch-optimized's fused mode in fp16 (backends/fused_xnor.py: the 1-bit tensor cores on compute
capability 8.0 and newer, CUDA cores before); on the CPU, torch-eager in fp32 runs the same
integers by the reference arithmetic (artem_kernels.xnor_reference), slower, the same answer.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..models.card import ModelCard
from ..models.generator import Generator, GeneratorConfig
from ..models.store import Entry, write_entry
from ..models.xnor import PackedXnorGenerator, XnorConfig, XnorGenerator, packed_from_state_dict
from .base import Kind


class XnorKind(Kind):
    name = "xnor"
    summary = "a generator with binary (XNOR-Net) residual blocks, run by ArtEm's own kernels"
    module_types = (PackedXnorGenerator,)
    backends = ("torch-eager", "torch-optimized")
    precisions = ("fp32", "fp16")
    # torch-eager fp32 runs the reference arithmetic (on the CPU; on CUDA its binary convs go
    # through the CPU), torch-optimized fp16 the kernels
    RUNS = (("torch-eager", "fp32"), ("torch-optimized", "fp16"))

    def supports(self, backend: str, precision: str) -> bool:
        return (backend, precision) in self.RUNS

    def describe_runs(self) -> str:
        return "torch-eager in fp32 (the reference arithmetic) or torch-optimized in fp16 (kernels)"

    def check_card(self, card: ModelCard) -> None:
        XnorConfig.from_dict(card.architecture)

    def load(self, entry: Entry, base: object = None) -> nn.Module:
        config = XnorConfig.from_dict(entry.card.architecture)
        try:
            return packed_from_state_dict(entry.load_weights(), config)
        except ValueError as e:
            raise ValueError(f"{entry.path}: {e}") from None

    def default_run(self, cuda: bool) -> tuple[str, str]:
        return ("torch-optimized", "fp16") if cuda else ("torch-eager", "fp32")

    def optimized_mode(self, module: nn.Module, kernels: bool) -> str:
        # without the kernels there is no fast path: eager runs the reference arithmetic
        return "fused" if kernels else "eager"

    def fused(self, module: nn.Module, use_kernels: bool):
        if not use_kernels or next(module.parameters()).dtype != torch.float16:
            return None  # the kernels take fp16 activations
        from ..backends.fused_xnor import FusedXnor

        return FusedXnor(module)

    has_bench_entries = True

    def bench_entries(self, models_dir: Path, style: str, seed: int = 0) -> None:
        """The binary twin of a full-size (width 32, 5 residual blocks) random generator:
        the timing of a real xnor style without shipping one."""
        torch.manual_seed(seed)
        teacher = Generator(GeneratorConfig())
        packed = XnorGenerator.from_generator(teacher).packed()
        with torch.no_grad():  # spread the output over 0..255 as a trained net's is
            packed.deconv3.conv2d.weight.mul_(40.0)
            packed.deconv3.conv2d.bias.fill_(128.0)
        card = ModelCard(
            name=style,
            kind=self.name,
            architecture=packed.config.to_dict(),
            source="artem bench: random weights",
            license="none: random numbers",
        )
        write_entry(models_dir, card, packed.state_dict(), overwrite=True)


KIND = XnorKind()
