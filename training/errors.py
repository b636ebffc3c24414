"""The one error a bad training config raises, before any training starts."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value that cannot work; the message starts with its key (e.g. `style.image`)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
