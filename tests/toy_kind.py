"""A model kind that lives only in the test folder, to show that a kind is one module: a fixed
colour matrix. An entry's weights.safetensors holds a 3x3 `matrix` and a 3-vector `offset`;
a frame's pixels become `matrix @ rgb + offset`. It imports a JSON file
(`{"matrix": [[...], [...], [...]], "offset": [...]}`), runs on torch eager only, and a session
may set its strength (blended in pixels) but neither a mix nor colour preservation.

The server finds it through the `artem.kinds` entry point group (test_toy_kind.py installs
a distribution that declares it) or `artem_server.kinds.register(KIND)`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from artem_server.kinds import Imported, Kind
from artem_server.models.card import ModelCard, validate_name
from artem_server.models.store import Entry, write_entry


class ColourMatrix(nn.Module):
    """(N, 3, H, W) RGB 0..255 -> matrix @ rgb + offset, per pixel."""

    size_multiple = 1

    def __init__(self, matrix: torch.Tensor, offset: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("matrix", matrix.float().reshape(3, 3))
        self.register_buffer("offset", offset.float().reshape(3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.einsum("ij,njhw->nihw", self.matrix.to(x.dtype), x)
        return y + self.offset.to(x.dtype).view(1, 3, 1, 1)


class ColourMatrixKind(Kind):
    name = "matrix"
    summary = "a fixed 3x3 colour matrix and offset (a test kind)"
    module_types = (ColourMatrix,)
    backends = ("torch-eager",)
    precisions = ("fp32",)
    import_help = "a .json file with a 3x3 `matrix` and an `offset`"

    def check_card(self, card: ModelCard) -> None:
        if card.architecture.get("form") != "rgb-affine":
            raise ValueError(f"matrix card: architecture {card.architecture} lacks form=rgb-affine")

    def load(self, entry: Entry, base: object = None) -> nn.Module:
        w = entry.load_weights()
        if set(w) != {"matrix", "offset"}:
            raise ValueError(f"{entry.path}: expected tensors matrix and offset, got {sorted(w)}")
        return ColourMatrix(w["matrix"], w["offset"]).eval()

    def import_files(
        self,
        paths: list[Path],
        name: str,
        models_dir: Path,
        *,
        license: str = "",
        overwrite: bool = False,
    ) -> Imported | None:
        if len(paths) != 1 or Path(paths[0]).suffix != ".json":
            return None
        validate_name(name)
        spec = json.loads(Path(paths[0]).read_text())
        net = ColourMatrix(torch.tensor(spec["matrix"]), torch.tensor(spec["offset"]))
        card = ModelCard(
            name=name,
            kind=self.name,
            architecture={"form": "rgb-affine"},
            source=f"imported from {Path(paths[0]).name}",
            license=license or "test data",
        )
        tensors = {"matrix": net.matrix, "offset": net.offset}
        entry = write_entry(
            models_dir, card, tensors, self.thumbnail(net), half=False, overwrite=overwrite
        )
        return Imported(entry, f"imported {paths[0]} as colour matrix {name!r} into {entry.path}")


KIND = ColourMatrixKind()
