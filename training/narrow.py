"""Start a narrower generator from a wider trained one (`trainer.init_narrowed`).

A style retrained with a narrower decoder (model.edge_width, model.up_width) need not start
from scratch: the encoder and residual blocks keep their weights, and each narrowed layer keeps
its strongest channels, judged by what reaches the next layer: the instance norm's scale and
shift times the size of the next conv's weights on that channel. A short fine-tune against the
same targets then recovers what the dropped channels carried.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import ConfigError

# (conv making the channels, its instance norm, the conv reading them), in the generator's order
NARROWED = (
    ("conv1.conv2d", "in1", "conv2.conv2d"),
    ("deconv1.conv2d", "in4", "deconv2.conv2d"),
    ("deconv2.conv2d", "in5", "deconv3.conv2d"),
)


def narrow_state(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """`state` (a wider generator's weights) cut to `net`'s channel counts: for each layer in
    NARROWED that `net` has fewer channels of, the strongest ones are kept in their order."""
    state = dict(state)
    wanted = net.state_dict()
    for producer, norm, consumer in NARROWED:
        keys = [f"{producer}.weight", f"{norm}.weight", f"{consumer}.weight"]
        missing = [k for k in keys if k not in state or k not in wanted]
        if missing:
            raise ConfigError(
                "trainer.init_narrowed",
                f"true, but the weights have no {missing[0]}: expected a generator's",
            )
        have, need = state[f"{norm}.weight"].shape[0], wanted[f"{norm}.weight"].shape[0]
        if need > have:
            raise ConfigError(
                "trainer.init_narrowed",
                f"true, but {norm} would grow from {have} to {need} channels: only narrowing",
            )
        reach = torch.hypot(state[f"{norm}.weight"], state[f"{norm}.bias"])
        reach = reach * state[f"{consumer}.weight"].transpose(0, 1).flatten(1).norm(dim=1)
        keep = reach.topk(need).indices.sort().values
        for name in (f"{producer}.weight", f"{producer}.bias", f"{norm}.weight", f"{norm}.bias"):
            state[name] = state[name][keep]
        state[f"{consumer}.weight"] = state[f"{consumer}.weight"][:, keep]
    return state


def narrow_cin_state(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """The same for the fast adain net (models/adain_cin.py), whose norms have no weights of
    their own: a channel's scale and shift for the average style are the head's bias, and its
    rows of the head (scale and shift) go with it."""
    state = dict(state)
    names = [n for n, m in net.generator.named_modules() if hasattr(m, "channels")]
    need = dict(zip(names, net.sizes, strict=True))
    producers = {norm: producer for producer, norm, _ in NARROWED}
    have = dict(need)  # the wide net's channels: each narrowed norm's producer says
    for norm, producer in producers.items():
        key = f"generator.{producer}.weight"
        if key not in state or norm not in need:
            raise ConfigError(
                "trainer.init_narrowed",
                f"true, but the weights have no {key}: expected a fast adain net's",
            )
        have[norm] = state[key].shape[0]
    bounds, at = {}, 0
    for n in names:
        bounds[n], at = (at, at + have[n]), at + have[n]
    total = at
    if state["head.bias"].shape[0] != 2 * total:
        raise ConfigError("trainer.init_narrowed", "true, but the head does not fit the generator")
    rows = []
    for n in names:
        lo, hi = bounds[n]
        keep = torch.arange(lo, hi)
        if n in producers:
            if need[n] > have[n]:
                raise ConfigError(
                    "trainer.init_narrowed",
                    f"true, but {n} would grow from {have[n]} to {need[n]} channels",
                )
            producer = producers[n]
            consumer = next(c for p, m, c in NARROWED if m == n)
            scale = 1 + state["head.bias"][lo:hi]
            shift = state["head.bias"][total + lo : total + hi]
            reach = torch.hypot(scale, shift) * state[f"generator.{consumer}.weight"].transpose(
                0, 1
            ).flatten(1).norm(dim=1)
            chosen = reach.topk(need[n]).indices.sort().values
            for name in (f"generator.{producer}.weight", f"generator.{producer}.bias"):
                state[name] = state[name][chosen]
            state[f"generator.{consumer}.weight"] = state[f"generator.{consumer}.weight"][:, chosen]
            keep = lo + chosen
        rows.append(keep)
    rows = torch.cat(rows)
    rows = torch.cat([rows, total + rows])  # the scale rows, then the shift rows
    state["head.weight"], state["head.bias"] = state["head.weight"][rows], state["head.bias"][rows]
    return state
