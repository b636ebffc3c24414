"""Shift consistency: a temporal/stereo loss on synthetic camera moves (ReCoNet-style).

A head that turns moves the picture by a few pixels between frames, and the two eyes see it
moved by their disparity. A style that is comfortable to look at moves with it: stylizing the
moved picture gives the stylized picture moved. Each step takes a training crop twice, the
second view moved by a random (dy, dx) of 0..`max_shift` px (shifts that are not multiples of
the net's stride are the ones it gets wrong), stylizes both in one batch, and adds
`weight` x the mean absolute difference (0..1 units) of the outputs where both views see the
same pixels, `margin` px from the borders excluded. The motion is exact, so no flow
estimation is needed and no occlusion arises. Two eyes' cameras (or two frames) never see
exactly the same pixel values either: `noise` adds Gaussian noise of that many grey levels to
the moved view, so the style learns not to amplify small differences into different texture.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from omegaconf import DictConfig

from .errors import ConfigError

# the second view is cut this much smaller than the crop, so both views fit inside it
VIEW_MARGIN = 8


def check_consistency(c: DictConfig, image_size: int, multiple: int) -> None:
    """ConfigError for a `consistency` setting that cannot work with these crops."""
    if float(c.weight) < 0:
        raise ConfigError("consistency.weight", f"{c.weight}: expected 0 (off) or more")
    if float(c.detail_weight) < 0 or float(c.detail_weight) and not float(c.weight):
        raise ConfigError(
            "consistency.detail_weight",
            f"{c.detail_weight}: expected 0 (off), or more with consistency.weight above 0",
        )
    if not 0 < float(c.detail_target) <= 1:
        raise ConfigError(
            "consistency.detail_target", f"{c.detail_target}: expected a gain in (0, 1]"
        )
    if float(c.weight) == 0:
        return
    if float(c.noise) < 0:
        raise ConfigError("consistency.noise", f"{c.noise}: expected 0 (none) or more grey levels")
    if not 1 <= int(c.max_shift) <= VIEW_MARGIN:
        raise ConfigError("consistency.max_shift", f"{c.max_shift}: expected 1..{VIEW_MARGIN} px")
    if int(c.margin) < 0 or 2 * int(c.margin) + VIEW_MARGIN >= image_size - VIEW_MARGIN:
        raise ConfigError("consistency.margin", f"{c.margin}: expected 0 to a quarter of the crop")
    if (image_size - VIEW_MARGIN) % multiple:
        raise ConfigError(
            "trainer.image_size",
            f"{image_size}: with consistency on, image_size - "
            f"{VIEW_MARGIN} must be a multiple of {multiple}",
        )


def shift_views(c: DictConfig, seed: int) -> ShiftViews | None:
    """The `consistency` group's ShiftViews, or None when it is off (weight 0)."""
    return (
        ShiftViews(int(c.max_shift), int(c.margin), seed, float(c.noise))
        if float(c.weight)
        else None
    )


class ShiftViews:
    """Draws the moves and cuts the two views; its random state goes into checkpoints."""

    def __init__(self, max_shift: int, margin: int, seed: int, noise: float = 0.0) -> None:
        self.max_shift, self.margin, self.noise = int(max_shift), int(margin), float(noise)
        self.rng = random.Random(seed)

    def draw(self) -> tuple[int, int]:
        while True:
            dy, dx = self.rng.randint(0, self.max_shift), self.rng.randint(0, self.max_shift)
            if dy or dx:
                return dy, dx

    def views(self, x: torch.Tensor, scale: float = 255.0) -> tuple[torch.Tensor, tuple[int, int]]:
        """(N, C, S, S) crops -> (2N, C, S-8, S-8): the views as the first N, the moved views
        (view[i + dy, j + dx] at [i, j], plus `noise` grey levels of noise; `scale` is the
        crops' full range) as the last N; and the move."""
        dy, dx = self.draw()
        s = x.shape[-1] - VIEW_MARGIN
        moved = x[..., dy : dy + s, dx : dx + s]
        if self.noise:
            moved = (moved + torch.randn_like(moved) * (self.noise * scale / 255)).clamp(0, scale)
        return torch.cat([x[..., :s, :s], moved]), (dy, dx)

    def loss(self, y: torch.Tensor, move: tuple[int, int], scale: float = 255.0) -> torch.Tensor:
        """Mean |moved view's output - view's output moved| on the pixels both show, in 0..1
        units (`scale` is the outputs' full range)."""
        (dy, dx), m = move, self.margin
        a, b = y.chunk(2)
        h, w = a.shape[-2:]
        a_part = a[..., dy + m : h - m, dx + m : w - m]
        b_part = b[..., m : h - m - dy, m : w - m - dx]
        return (a_part - b_part).abs().mean() / scale

    def state(self) -> list:
        return list(self.rng.getstate())

    def set_state(self, state: Sequence) -> None:
        self.rng.setstate((state[0], tuple(state[1]), state[2]))
