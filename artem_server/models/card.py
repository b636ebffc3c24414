"""The model card: the JSON beside each entry's weights that says what the entry is and how it
was made, and carries the architecture needed to rebuild the net (nanoGPT's `model_args`)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

CARD_FILE = "card.json"
WEIGHTS_FILE = "weights.safetensors"
THUMBNAIL_FILE = "thumbnail.png"

# A style name is a single path component we create: no separators, dots or spaces, so no name
# can reach a path outside the models directory.
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class InvalidName(ValueError):
    """A style or model name that could not be a directory name inside the models directory."""


def validate_name(name: str, field_name: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(
        name
    ):  # match's `$` lets a final newline in
        shown = (
            repr(name)
            if len(repr(name)) <= 80
            else f"{repr(name)[:80]}... ({len(name)} characters)"
        )
        raise InvalidName(
            f"{field_name} {shown} is not a valid style name: expected 1-64 characters of "
            "lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


@dataclass
class ModelCard:
    name: str
    kind: str  # the name of a kind in artem_server.kinds
    display_name: str = ""
    architecture: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # where the weights came from: a file, a training run, a URL
    made_by: dict[str, Any] = field(default_factory=dict)  # command + config that made it
    license: str = ""
    notes: str = ""
    created: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    schema: int = 1

    def __post_init__(self) -> None:
        validate_name(self.name)
        # which kinds exist is the kind table's to say (artem_server.kinds), when it is used
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"kind {self.kind!r}: expected the name of a model kind")
        if not self.display_name:
            self.display_name = self.name.replace("_", " ").replace("-", " ").title()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelCard:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"card has unknown fields {unknown}")
        return cls(**d)

    @classmethod
    def read(cls, path: Path) -> ModelCard:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
