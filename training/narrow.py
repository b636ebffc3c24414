"""Start a narrower generator from a wider trained one (`trainer.init_narrowed`).

A style retrained with a narrower decoder (model.edge_width, model.up_width) need not start
from scratch: the encoder and residual blocks keep their weights, and each narrowed layer keeps
its strongest channels, judged by what reaches the next layer: the instance norm's scale and
shift times the size of the next conv's weights on that channel. A short fine-tune against the
same targets then recovers what the dropped channels carried. Works for the per-style generator
and for the fast adain net (models/adain_cin.py), whose norms take scale and shift from its head.
"""

from __future__ import annotations

import torch
from torch import nn

from artem_server.models.adain_cin import CondInstanceNorm

from .errors import ConfigError

# (conv making the channels, its instance norm, the conv reading them), in the generator's order
NARROWED = (
    ("conv1.conv2d", "in1", "conv2.conv2d"),
    ("deconv1.conv2d", "in4", "deconv2.conv2d"),
    ("deconv2.conv2d", "in5", "deconv3.conv2d"),
)


def _refuse(why: str) -> ConfigError:
    return ConfigError("trainer.init_narrowed", f"true, but {why}")


def _strongest(
    scale: torch.Tensor, shift: torch.Tensor, reader: torch.Tensor, norm: str, count: int
) -> torch.Tensor:
    """Indices, in order, of the `count` channels whose norm output (scale, shift) reaches the
    next conv (weights `reader`) most."""
    if count > scale.shape[0]:
        raise _refuse(f"{norm} would grow from {scale.shape[0]} to {count} channels")
    reach = torch.hypot(scale, shift) * reader.transpose(0, 1).flatten(1).norm(dim=1)
    return reach.topk(count).indices.sort().values


def _cut(state: dict, prefix: str, producer: str, reader: str, keep: torch.Tensor) -> None:
    for name in (f"{prefix}{producer}.weight", f"{prefix}{producer}.bias"):
        state[name] = state[name][keep]
    state[f"{prefix}{reader}.weight"] = state[f"{prefix}{reader}.weight"][:, keep]


def _check_keys(state: dict, keys: list[str], expected: str) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        raise _refuse(f"the weights have no {missing[0]}: expected {expected}")


def narrow_state(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """`state` (a wider generator's weights) cut to `net`'s channel counts: for each layer in
    NARROWED that `net` has fewer channels of, the strongest ones are kept in their order."""
    state, wanted = dict(state), net.state_dict()
    for producer, norm, reader in NARROWED:
        keys = [f"{producer}.weight", f"{norm}.weight", f"{norm}.bias", f"{reader}.weight"]
        _check_keys(state, keys, "a generator's")
        _check_keys(wanted, keys, "a generator's")
        count = wanted[f"{norm}.weight"].shape[0]
        scale, shift = state[f"{norm}.weight"], state[f"{norm}.bias"]
        keep = _strongest(scale, shift, state[f"{reader}.weight"], norm, count)
        _cut(state, "", producer, reader, keep)
        state[f"{norm}.weight"], state[f"{norm}.bias"] = scale[keep], shift[keep]
    return state


def narrow_cin_state(state: dict[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """The same for the fast adain net: a channel's scale and shift for the average style are
    the head's bias, and its rows of the head (scale and shift) go with it."""
    state = dict(state)
    names = [n for n, m in net.generator.named_modules() if isinstance(m, CondInstanceNorm)]
    counts = dict(zip(names, net.sizes, strict=True))
    wide = dict(counts)  # the state's channel counts: each narrowed norm's producer says
    for producer, norm, _reader in NARROWED:
        _check_keys(state, [f"generator.{producer}.weight"], "a fast adain net's")
        wide[norm] = state[f"generator.{producer}.weight"].shape[0]
    starts, total = {}, 0
    for n in names:
        starts[n], total = total, total + wide[n]
    if state["head.bias"].shape[0] != 2 * total:
        raise _refuse("the weights' head does not fit their generator")
    bias = state["head.bias"]
    rows = {n: torch.arange(starts[n], starts[n] + wide[n]) for n in names}
    for producer, norm, reader in NARROWED:
        lo, hi = starts[norm], starts[norm] + wide[norm]
        reads = state[f"generator.{reader}.weight"]
        keep = _strongest(1 + bias[lo:hi], bias[total + lo : total + hi], reads, norm, counts[norm])
        _cut(state, "generator.", producer, reader, keep)
        rows[norm] = lo + keep
    chosen = torch.cat([rows[n] for n in names])
    chosen = torch.cat([chosen, total + chosen])  # the scale rows, then the shift rows
    state["head.weight"], state["head.bias"] = state["head.weight"][chosen], bias[chosen]
    return state
