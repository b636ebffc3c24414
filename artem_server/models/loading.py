"""Rebuild a runnable net from a models-directory entry, by the entry's kind."""

from __future__ import annotations

from typing import Any

from torch import nn

from .store import Entry


def load_model(entry: Entry, base: Any = None) -> nn.Module:
    """An eval-mode, fp32, CPU module for the entry (see Kind.load); `base`: the loaded model a
    style of a base-taking kind loads onto."""
    from ..kinds import kind_of  # the kinds build on this package: imported when used

    return kind_of(entry.card).load(entry, base)
