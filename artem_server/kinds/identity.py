"""The identity kind: the server's `identity` style, which returns frames unchanged, for
measuring transport and checking an engine integration. It has no entries on disk; no runner
is built for it (frames go straight to where the reply wants them)."""

from __future__ import annotations

import torch
from torch import nn

from ..models.card import ModelCard
from ..models.store import Entry
from .base import Kind

STYLE = "identity"  # the style's id, always served


class Identity(nn.Module):
    """Returns its input: what the identity style "runs"."""

    size_multiple = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class IdentityKind(Kind):
    name = "identity"
    summary = "returns frames unchanged"
    runs_model = False

    def load(self, entry: Entry, base: object = None) -> nn.Module:
        return Identity()

    def card(self) -> ModelCard:
        """The identity style's card (it has no entry to read one from)."""
        return ModelCard(
            name=STYLE,
            kind=self.name,
            display_name="Identity",
            source="built in",
            notes="returns frames unchanged",
        )


KIND = IdentityKind()
