"""Rebuild a runnable net from a models-directory entry (the registry's only way in)."""

from __future__ import annotations

import torch
from torch import nn

from .generator import GeneratorConfig
from .importers import generator_from_state_dict
from .store import Entry


class Identity(nn.Module):
    """The `identity` style: returns frames unchanged, for measuring transport and checking an
    engine integration."""

    size_multiple = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def load_model(entry: Entry) -> nn.Module:
    """An eval-mode, fp32, CPU module for the entry. Input and output: (N, 3, H, W) RGB 0..255,
    sRGB; its `size_multiple` says what H and W must be multiples of."""
    kind = entry.card.kind
    if kind == "identity":
        return Identity()
    if kind == "generator":
        expected = GeneratorConfig.from_dict(entry.card.architecture)
        net, _ = generator_from_state_dict(entry.load_weights(), antialias=expected.antialias)
        if net.config != expected:
            raise ValueError(f"{entry.path}: weights are {net.config}, card says {expected}")
        return net.eval().requires_grad_(False)
    raise ValueError(f"{entry.path}: kind {kind!r} is not supported by this server")
