"""What an adain run writes besides its model: the export names it checks before training and
the default styles (`export.styles`) it adds to the model it exported. Shared by both adain
networks' training (kinds/adain.py for the VGG net, cin_distill.py for the fast one)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from artem_server.models.adain_store import compute_style, load_adain_model, write_adain_style
from artem_server.models.card import InvalidName, validate_name
from artem_server.models.store import Entry, read_entry

from .checks import check_onnx_export
from .errors import ConfigError
from .export import LICENSE_NOTE
from .style_images import load_style_image


def check_export(e: DictConfig) -> None:
    names = [("export.name", e.name)] + [
        (f"export.styles[{i}].name", s.name) for i, s in enumerate(e.get("styles") or [])
    ]
    for key, name in names:
        try:
            validate_name(name, key)
        except InvalidName as err:
            raise ConfigError(key, str(err)) from None
        if (Path(e.models_dir) / name).exists() and not e.overwrite:
            raise ConfigError(
                "export.overwrite",
                f"{Path(e.models_dir) / name} already exists; "
                "set export.overwrite=true to replace it",
            )
    check_onnx_export(e)


def export_styles(model_entry: Entry, e: DictConfig) -> list[Entry]:
    """Write each style of `export.styles` ({name, image, seed, size}) for the exported model,
    with the model as stored (fp16-rounded weights), as `artem styles add` would."""
    model = load_adain_model(read_entry(model_entry.path))
    out = []
    for s in e.get("styles") or []:
        rgb = load_style_image(str(s.image), s.get("size"), int(s.get("seed", 0)))
        out.append(
            write_adain_style(
                Path(e.models_dir),
                s.name,
                model,
                compute_style(model, rgb),
                (rgb.shape[1], rgb.shape[0]),
                display_name=s.get("display_name", ""),
                source=f"style image {s.image} (seed {s.get('seed', 0)})",
                made_by={
                    "by": "artem-train export.styles",
                    "image": str(s.image),
                    "seed": s.get("seed", 0),
                    "size": s.get("size"),
                },
                license=LICENSE_NOTE,
                overwrite=bool(e.overwrite),
            )
        )
    return out
