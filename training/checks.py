"""Config checks that run before anything is built, so a bad run fails in a second, not after
an hour, with a message that names the offending key."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from omegaconf import DictConfig

from artem_server.models.card import InvalidName, validate_name

from .errors import ConfigError
from .precision import PRECISIONS
from .style_images import BUILTIN_PREFIX, BUILTINS
from .vgg import TAPS, hub_weights_path

DEVICES = ("cpu", "cuda", "auto")


def check_config(cfg: DictConfig, size_multiple: int) -> None:
    """Raise ConfigError for the first value that cannot work, for a feed-forward net whose
    image sides must be multiples of `size_multiple`. `cfg` is fully resolved."""
    if cfg.get("teacher") is not None:
        _check_distill(cfg.loss)
    else:
        _check_style(cfg.style)
        _check_loss(cfg.loss)
    _check_trainer(cfg.trainer, size_multiple)
    _check_export(cfg.export)


def _check_style(style: DictConfig) -> None:
    spec = str(style.image)
    if spec.startswith(BUILTIN_PREFIX):
        if spec[len(BUILTIN_PREFIX) :] not in BUILTINS:
            raise ConfigError(
                "style.image",
                f"no built-in style image {spec!r}; known: "
                f"{', '.join(BUILTIN_PREFIX + b for b in BUILTINS)}",
            )
    elif not Path(spec).is_file():
        raise ConfigError("style.image", f"style image file {spec!r} does not exist")
    if style.size is not None and int(style.size) < 16:
        raise ConfigError("style.size", f"{style.size} is too small (at least 16, or null)")


def _check_loss(loss: DictConfig) -> None:
    for key, taps in (
        ("loss.content_layer", [loss.content_layer]),
        ("loss.style_layers", list(loss.style_layers)),
    ):
        unknown = [t for t in taps if t not in TAPS]
        if unknown or not taps:
            raise ConfigError(key, f"unknown or no VGG-16 taps {unknown}; known: {list(TAPS)}")
    if loss.weights is not None and not Path(loss.weights).is_file():
        raise ConfigError("loss.weights", f"VGG-16 weights file {loss.weights!r} does not exist")
    if (
        loss.weights is None
        and not loss.random_fallback.enabled
        and not hub_weights_path().is_file()
    ):
        raise ConfigError(
            "loss.weights",
            f"no VGG-16 ImageNet weights at {hub_weights_path()} and "
            "loss.random_fallback.enabled is false",
        )


def _check_distill(loss: DictConfig) -> None:
    for key in ("pixel_weight", "detail_weight"):
        if key not in loss:
            raise ConfigError(
                f"loss.{key}", "a teacher needs loss=distill (pixel_weight, detail_weight)"
            )
        if float(loss[key]) < 0:
            raise ConfigError(f"loss.{key}", f"must be 0 or more, got {loss[key]}")


def _check_trainer(t: DictConfig, size_multiple: int) -> None:
    if t.device not in DEVICES:
        raise ConfigError("trainer.device", f"{t.device!r} is not one of {', '.join(DEVICES)}")
    if t.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device", "cuda was asked for but torch sees no CUDA device")
    for key in ("steps", "batch_size", "image_size", "log_every", "sample_size"):
        if int(t[key]) < 1:
            raise ConfigError(f"trainer.{key}", f"must be a positive integer, got {t[key]}")
    for key in ("image_size", "sample_size"):
        if int(t[key]) % size_multiple:
            raise ConfigError(f"trainer.{key}", f"{t[key]} is not a multiple of {size_multiple}")
    if t.checkpoint_every is not None and int(t.checkpoint_every) < 1:
        raise ConfigError(
            "trainer.checkpoint_every", f"must be positive or null, got {t.checkpoint_every}"
        )
    check_switches(t)
    check_init_weights(t)
    if t.resume is not None and not Path(t.resume).is_file():
        raise ConfigError("trainer.resume", f"checkpoint {str(t.resume)!r} does not exist")
    if float(t.max_zoom) < 1.0:
        raise ConfigError("trainer.max_zoom", f"must be at least 1.0, got {t.max_zoom}")
    if t.precision not in PRECISIONS:
        raise ConfigError(
            "trainer.precision", f"{t.precision!r} is not one of {', '.join(PRECISIONS)}"
        )
    on_cuda = t.device == "cuda" or (t.device == "auto" and torch.cuda.is_available())
    if t.precision == "fp16" and not on_cuda:
        raise ConfigError(
            "trainer.precision", "fp16 needs CUDA (its loss scaling is CUDA's); use bf16 on the CPU"
        )


def check_init_weights(t: DictConfig) -> None:
    """trainer.init_weights names an entry folder or a checkpoint file that exists."""
    if t.get("init_weights") and not Path(t.init_weights).exists():
        raise ConfigError(
            "trainer.init_weights",
            f"{str(t.init_weights)!r} does not exist: expected a "
            "models entry folder or a run's checkpoint",
        )


def check_switches(t: DictConfig) -> None:
    """trainer.ddp and trainer.tensorboard are booleans: "yes" would read as true in Python."""
    for key in ("ddp", "tensorboard"):
        if not isinstance(t[key], bool):
            raise ConfigError(f"trainer.{key}", f"must be true or false, got {t[key]!r}")


def _check_export(e: DictConfig) -> None:
    try:
        validate_name(e.name, "export.name")
    except InvalidName as err:
        raise ConfigError("export.name", str(err)) from None
    if (Path(e.models_dir) / e.name).exists() and not e.overwrite:
        raise ConfigError(
            "export.overwrite",
            f"{Path(e.models_dir) / e.name} already exists; "
            "set export.overwrite=true to replace it",
        )
    check_onnx_export(e)


def check_onnx_export(e: DictConfig) -> None:
    """export.onnx needs torch.onnx's exporter packages: say so now, not after training."""
    if not e.get("onnx"):
        return
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            "export.onnx",
            f"true needs {' and '.join(missing)} (pip install -e '.[onnx]'), "
            "which are not installed",
        )
