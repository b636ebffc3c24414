"""What a session config picks: one style, or a mix of styles, with strength and colour
preservation, turned into the module the pipeline runs.

The style's kind says what a session may set for it (`Kind.session_options`) and builds the
module (`Kind.session_module`): a generator's strength blends pixels (the pipeline does it); an
adain style's strength, mix and colour preservation are inside one module. What a kind builds
per distinct choice is kept in a ChoiceCache, so repeated or shared choices reuse one module
(and the backend runner built for it).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import torch

from .errors import InvalidArgument
from .kinds import with_option
from .kinds.base import article
from .registry import Registry, Style


@dataclass(frozen=True)
class StyleChoice:
    """The resolved choice. `style` is the (first) style; `label` names the whole choice
    ("swirl", or "swirl*0.3+glass*0.7"); `model` is what the pipeline runs and
    `pixel_strength` what it blends in pixels (1 when the strength is inside the model)."""

    style: Style
    label: str
    model: torch.nn.Module
    pixel_strength: float
    mix: tuple[tuple[str, float], ...] = ()  # normalised weights; empty for a single style
    preserve_color: bool = False


class ChoiceCache:
    """The modules kinds build per distinct choice (styles and weights, strength, colour flag),
    least recently used dropped."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._cache: OrderedDict[Hashable, torch.nn.Module] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, key: Hashable, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
        with self._lock:
            module = self._cache.get(key)
            if module is None:
                module = self._cache[key] = build()
                while len(self._cache) > self.capacity:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            return module


def _offered(option: str) -> str:
    return " or ".join(k.name for k in with_option(option)) or "no"


def choose(
    registry: Registry,
    cache: ChoiceCache,
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
        kind = style.kind
        for option, asked in (("strength", strength != 1.0), ("preserve_color", preserve_color)):
            if asked and option not in kind.session_options:
                raise kind.refuse(option, f"config.{option}", style, _offered(option))
        made = kind.session_module([(style, 1.0)], strength, preserve_color, cache)
        return StyleChoice(
            style, style.id, made.model, made.pixel_strength, preserve_color=preserve_color
        )
    parts: list[tuple[Style, float]] = []
    bases: list[str | None] = []
    for i, (sid, weight) in enumerate(mix):
        style = registry.get(sid, f"config.mix[{i}].style")
        kind = style.kind
        if "mix" not in kind.session_options:
            raise InvalidArgument(
                f"config.mix[{i}].style {sid!r} is {article(kind.name)} style: only "
                f"{_offered('mix')} styles mix (their statistics blend; pixels would not)"
            )
        base = kind.base_of(style.card)
        if parts and (kind is not parts[0][0].kind or base != bases[0]):
            first = parts[0][0]
            raise InvalidArgument(
                f"config.mix[{i}].style {sid!r} belongs to {kind.name} model {base!r}, "
                f"config.mix[0].style to {first.kind.name} model {bases[0]!r}: only styles of "
                "one model mix"
            )
        if not (math.isfinite(weight) and weight >= 0.0):
            raise InvalidArgument(f"config.mix[{i}].weight = {weight}: expected a number >= 0")
        parts.append((style, float(weight)))
        bases.append(base)
    total = sum(w for _, w in parts)
    if total <= 0.0:
        raise InvalidArgument(
            f"config.mix weights sum to {total}: expected a positive sum (they are normalised to 1)"
        )
    if preserve_color and "preserve_color" not in parts[0][0].kind.session_options:
        raise parts[0][0].kind.refuse(
            "preserve_color", "config.preserve_color", parts[0][0], _offered("preserve_color")
        )
    normalised = tuple((s.id, w / total) for s, w in parts)
    label = "+".join(f"{sid}*{w:.3g}" for sid, w in normalised)
    made = parts[0][0].kind.session_module(parts, strength, preserve_color, cache)
    return StyleChoice(
        parts[0][0], label, made.model, made.pixel_strength, normalised, preserve_color
    )
