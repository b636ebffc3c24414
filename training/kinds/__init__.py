"""One module per model kind that artem-train trains, each exposing
`train(cfg: DictConfig, command: str | None = None) -> RunResult` on the shared scaffold
(`artem_training.run`). The model config picks the module by its `kind` field
(`configs/model/generator.yaml`: `kind: generator`), so adding a kind is one module here and
one config in `configs/model/`; nothing else in training names a kind.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from omegaconf import DictConfig

from ..errors import ConfigError
from ..run import build_group


def kind_names() -> list[str]:
    """The training kinds: this package's modules."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def kind_module(cfg: DictConfig) -> ModuleType:
    """The module that trains `cfg.model.kind`; an unknown or missing kind fails naming the
    field and the kinds there are."""
    name = cfg.model.get("kind")
    known = ", ".join(kind_names())
    if name is None:
        raise ConfigError("model.kind", f"the model config names no kind; expected one of {known}")
    if name not in kind_names():
        raise ConfigError("model.kind", f"{name!r} is not a training kind; expected one of {known}")
    return importlib.import_module(f"{__name__}.{name}")


def model_config(model: DictConfig) -> Any:
    """The model group's `_target_` (the kind's config dataclass), built from every field but
    `kind`, which only picks the training module."""
    fields = {k: v for k, v in model.items() if k != "kind"}
    return build_group(DictConfig(fields))
