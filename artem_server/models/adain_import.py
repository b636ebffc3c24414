"""Import naoto0804/pytorch-AdaIN's published `vgg_normalised.pth` and `decoder.pth` as one adain
model entry (the layout of its net.py). Which file is which is read from the
keys, so the order on the command line does not matter; a wrong pair says what each file is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .adain import ENCODER_MODULES, AdaINConfig, AdaINNet, preprocessing_conv
from .adain_store import write_adain_model
from .card import validate_name
from .importers import CheckpointError, read_state_dict
from .store import Entry

ENCODER_HINT = "the encoder vgg_normalised.pth (53-module VGG-19, key 0.weight [3, 3, 1, 1])"
DECODER_HINT = "the decoder decoder.pth (key 1.weight [256, 512, 3, 3])"


def classify(sd: dict[str, torch.Tensor]) -> str:
    """'encoder', 'decoder', 'generator' or 'unknown', from the keys and shapes present."""

    def shape(k: str) -> tuple | None:
        return tuple(sd[k].shape) if k in sd else None

    if shape("0.weight") == (3, 3, 1, 1) and shape("2.weight") == (64, 3, 3, 3):
        return "encoder"
    w = shape("1.weight")
    if w is not None and len(w) == 4 and w[1] == 512 and "28.weight" in sd:
        return "decoder"
    if "conv1.conv2d.weight" in sd:
        return "generator"
    return "unknown"


def _index(key: str) -> int:
    """The Sequential index a key starts with; -1 for a key that has none."""
    head = key.split(".")[0]
    return int(head) if head.isdigit() else -1


def describe(kind: str, sd: dict[str, torch.Tensor]) -> str:
    if kind == "encoder":
        # Its last module is the ReLU after the last conv, which has no keys: hence + 2.
        return f"a pytorch-AdaIN encoder ({max(_index(k) for k in sd) + 2} modules)"
    if kind == "decoder":
        return f"a pytorch-AdaIN decoder (1.weight {list(sd['1.weight'].shape)})"
    if kind == "generator":
        return "a fast_neural_style generator (import it alone, without a second file)"
    keys = sorted(sd)[:4]
    return f"not an AdaIN file (first keys {keys})"


def _load_into(module: torch.nn.Module, sd: dict[str, torch.Tensor], what: str) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(sd))
    wrong = [
        f"{k} {list(sd[k].shape)} (expected {list(expected[k].shape)})"
        for k in expected
        if k in sd and sd[k].shape != expected[k].shape
    ]
    if missing or wrong:
        raise CheckpointError(f"{what}: missing keys {missing[:6]}; wrong shapes {wrong[:6]}")
    module.load_state_dict({k: sd[k].float() for k in expected})


def adain_from_files(paths: Sequence[Path]) -> tuple[AdaINNet, list[str]]:
    """The net from the two files, in either order, and notes for the model card."""
    if len(paths) != 2:
        raise CheckpointError(
            f"an adain model is two files, {ENCODER_HINT} and {DECODER_HINT}; got {len(paths)}"
        )
    loaded = [(Path(p), read_state_dict(Path(p))) for p in paths]
    kinds = [classify(sd) for _, sd in loaded]
    if sorted(kinds) != ["decoder", "encoder"]:
        said = "; ".join(f"{p.name} is {describe(k, sd)}" for (p, sd), k in zip(loaded, kinds))
        raise CheckpointError(f"expected {ENCODER_HINT} and {DECODER_HINT}: {said}")
    (enc_path, enc), (dec_path, dec) = sorted(
        loaded, key=lambda item: classify(item[1]) == "decoder"
    )
    width = int(dec["1.weight"].shape[0]) // 4
    net = AdaINNet(AdaINConfig(decoder_width=width))
    # The published encoder has 53 modules; only the first 31 (to relu4_1) are used, as in
    # pytorch-AdaIN's test.py and train.py (`nn.Sequential(*list(vgg.children())[:31])`).
    _load_into(
        net.encoder,
        {k: v for k, v in enc.items() if _index(k) < ENCODER_MODULES},
        f"{enc_path.name} (encoder)",
    )
    _load_into(net.decoder, dec, f"{dec_path.name} (decoder)")
    notes = [
        f"encoder from {enc_path.name} (first {ENCODER_MODULES} modules), decoder from "
        f"{dec_path.name}"
        + (f" (decoder width {width}, narrower than the published 64)" if width != 64 else "")
    ]
    w0, b0 = preprocessing_conv()
    if not (
        torch.allclose(net.encoder[0].weight, w0, atol=1e-3)
        and torch.allclose(net.encoder[0].bias, b0, atol=1e-3)
    ):
        notes.append(
            "the encoder's 1x1 preprocessing conv differs from the published Caffe BGR/mean one"
        )
    if kinds[0] == "decoder":
        notes.append("files were given decoder first; recognised by their keys")
    return net.eval(), notes


def import_adain(
    paths: Sequence[Path],
    name: str,
    models_dir: Path,
    *,
    license: str = "",
    overwrite: bool = False,
    source: str = "",
) -> Entry:
    """Store pytorch-AdaIN's two files as an adain model entry (fp32: outputs equal the peer's).
    `source` (default: the files' names) is where they came from."""
    validate_name(name)
    net, notes = adain_from_files(paths)
    names = " ".join(Path(p).name for p in paths)
    return write_adain_model(
        models_dir,
        name,
        net,
        source=source or f"imported from {names}",
        made_by={"command": f"artem models import {names} --name {name}"},
        license=license
        or "unknown: as published with the source files (pytorch-AdaIN code is MIT)",
        notes="pytorch-AdaIN (Huang & Belongie 2017) layout; " + "; ".join(notes),
        overwrite=overwrite,
    )
