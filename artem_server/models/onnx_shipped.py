"""An entry's model.onnx, kept beside its weights (the built-in styles, `artem-train
export.onnx=true`, `artem models export-onnx`), served by the onnxruntime backend instead of an
export made when the runner is built: exporting takes seconds to a minute per style on a loaded
CPU, reading the file a few milliseconds, so ONNX Runtime can be a CPU default.

A kind's `load` attaches the file to the module it made (`attach`); the backend asks the kind
(`Kind.shipped_graph`) and serves the graph only when the weights digest recorded in it is the
module's (`is_current`): a file left stale by new weights is logged and exported over, never
served.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .onnx_export import ONNX_FILE, WEIGHTS_DIGEST_KEY, weights_digest
from .onnx_net import OnnxGraph

log = logging.getLogger(__name__)

# module -> its entry's graph; weak, so a reloaded style's old module takes its graph with it
_ATTACHED: weakref.WeakKeyDictionary[nn.Module, OnnxGraph] = weakref.WeakKeyDictionary()


def attach(module: nn.Module, entry_path: Path) -> None:
    """Remember the entry's model.onnx (when it has one) as `module`'s graph."""
    path = Path(entry_path) / ONNX_FILE
    if path.is_file():
        _ATTACHED[module] = OnnxGraph(path.read_bytes(), source=str(path))


def attached(module: nn.Module) -> OnnxGraph | None:
    return _ATTACHED.get(module)


@dataclass(frozen=True)
class ShippedGraph:
    """A graph to serve for a module: `weights` is the net it must have been exported from;
    `feeds` are its inputs besides the frame `x`, with batch 1 (tiled to the frame's batch)."""

    graph: OnnxGraph
    weights: nn.Module
    feeds: dict[str, torch.Tensor] = field(default_factory=dict)


def recorded_digest(session) -> str | None:
    """The weights digest an ONNX Runtime session's graph was exported with (None: none)."""
    return session.get_modelmeta().custom_metadata_map.get(WEIGHTS_DIGEST_KEY)


def is_current(shipped: ShippedGraph, session) -> bool:
    """True when the graph was made from `shipped.weights` as they are now; logs a stale one."""
    recorded, now = recorded_digest(session), weights_digest(shipped.weights)
    if recorded != now:
        log.warning(
            "%s was not exported from these weights (its digest %s, the weights' %s): "
            "exporting the module instead; `artem models export-onnx` rewrites it",
            shipped.graph.source,
            (recorded or "none")[:12],
            now[:12],
        )
    return recorded == now
