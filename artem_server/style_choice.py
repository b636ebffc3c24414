"""What a session config picks: one style, or a mix of adain styles, with strength and colour
preservation, turned into the module the pipeline runs.

A generator's strength blends pixels (the pipeline does it). An adain style's strength is
AdaIN's alpha, a mix is a blend of statistics and colour preservation a different encoder
input: all inside one AdaINStylizer, built once per distinct choice and cached, so repeated or
shared choices reuse one module (and the backend runner built for it).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .errors import InvalidArgument
from .models.adain_style import AdaINStylizer, blend
from .registry import Registry, Style


@dataclass(frozen=True)
class StyleChoice:
    """The resolved choice. `style` is the (first) style; `label` names the whole choice
    ("swirl", or "swirl*0.3+glass*0.7"); `model` is what the pipeline runs and
    `pixel_strength` what it blends in pixels (1 for adain: alpha is inside the model)."""

    style: Style
    label: str
    model: torch.nn.Module
    pixel_strength: float
    mix: tuple[tuple[str, float], ...] = ()  # normalised weights; empty for a single style
    preserve_color: bool = False


class AdaINRunners:
    """AdaINStylizer per (styles and weights, alpha, colour flag), least recently used dropped."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._cache: OrderedDict[tuple, AdaINStylizer] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, parts: Sequence[tuple[Style, float]], alpha: float, preserve_color: bool
    ) -> torch.nn.Module:
        first = parts[0][0].model
        assert isinstance(first, AdaINStylizer)
        if len(parts) == 1 and alpha == 1.0 and not preserve_color:
            return first  # the style's own module: shared by every session that picks it plainly
        # A style's stamp changes when its files or its model's do: a stale entry is never hit.
        key = (tuple((s.id, s.stamp, w) for s, w in parts), alpha, preserve_color)
        with self._lock:
            runner = self._cache.get(key)
            if runner is None:
                stats = blend([(s.model.stats, w) for s, w in parts])  # type: ignore[union-attr]
                runner = AdaINStylizer(first.net, stats, alpha, preserve_color)
                self._cache[key] = runner
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            return runner


def _adain_model_of(style: Style) -> str | None:
    if style.card.kind != "adain" or not isinstance(style.model, AdaINStylizer):
        return None
    return str(style.card.architecture.get("model", ""))


def choose(
    registry: Registry,
    runners: AdaINRunners,
    style_id: str,
    mix: Sequence[tuple[str, float]],
    strength: float,
    preserve_color: bool,
) -> StyleChoice:
    """Resolve a session's style fields; errors name the config field (config.mix[1].weight)."""
    if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
        raise InvalidArgument(f"config.strength = {strength}: expected a number in [0, 1]")
    if mix and style_id:
        raise InvalidArgument(
            f"config.style = {style_id!r} and config.mix are both set: set `style` for one "
            "style or `mix` for several"
        )
    if not mix:
        style = registry.get(style_id, "config.style")
        model_name = _adain_model_of(style)
        if model_name is None:
            if preserve_color:
                raise InvalidArgument(
                    f"config.preserve_color: style {style.id!r} is a {style.card.kind}; colour "
                    "preservation needs an adain style"
                )
            return StyleChoice(style, style.id, style.model, strength)
        return StyleChoice(
            style,
            style.id,
            runners.get([(style, 1.0)], strength, preserve_color),
            1.0,
            preserve_color=preserve_color,
        )
    parts: list[tuple[Style, float]] = []
    models: list[str] = []
    for i, (sid, weight) in enumerate(mix):
        style = registry.get(sid, f"config.mix[{i}].style")
        model_name = _adain_model_of(style)
        if model_name is None:
            raise InvalidArgument(
                f"config.mix[{i}].style {sid!r} is a {style.card.kind} style: only adain styles "
                "mix (their statistics blend; a generator's pixels would not)"
            )
        if models and model_name != models[0]:
            raise InvalidArgument(
                f"config.mix[{i}].style {sid!r} belongs to adain model {model_name!r}, "
                f"config.mix[0].style to {models[0]!r}: only styles of one model mix"
            )
        if not (math.isfinite(weight) and weight >= 0.0):
            raise InvalidArgument(f"config.mix[{i}].weight = {weight}: expected a number >= 0")
        parts.append((style, float(weight)))
        models.append(model_name)
    total = sum(w for _, w in parts)
    if total <= 0.0:
        raise InvalidArgument(
            f"config.mix weights sum to {total}: expected a positive sum (they are normalised to 1)"
        )
    normalised = tuple((s.id, w / total) for s, w in parts)
    label = "+".join(f"{sid}*{w:.3g}" for sid, w in normalised)
    return StyleChoice(
        parts[0][0],
        label,
        runners.get(parts, strength, preserve_color),
        1.0,
        normalised,
        preserve_color,
    )
