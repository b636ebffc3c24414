"""Bounds on a request's repeated and string fields, checked before any other work.

protobuf lets a client send a million `mix` entries or a megabyte of name in a message that is
still under the message-size limit; work that scales with them (resolving styles, blending
statistics, logging, echoing the value in an error) would stall every stream. So each such
field has a limit, a request past it is refused with INVALID_ARGUMENT naming the field, its
length and the limit, and error messages never repeat more than a short prefix of a value.
GetServerInfo reports the limits, so a client can plan by them.
"""

from __future__ import annotations

from dataclasses import dataclass

from artem_protocol.rpc import pb

from .errors import InvalidArgument


@dataclass(frozen=True)
class FieldLimits:
    max_mix_styles: int = 16  # SessionConfig.mix entries
    max_name_chars: int = (
        64  # a style or model id (config.style, mix[i].style, AddStyle name/model)
    )
    max_option_chars: int = 32  # config.backend, config.precision
    max_display_name_chars: int = (
        200  # AddStyle display_name; longer stored names are trimmed in replies
    )
    max_metadata_chars: int = (
        1024  # one StyleInfo.metadata value in replies (longer ones are trimmed)
    )
    max_thumbnail_bytes: int = (
        256 << 10
    )  # a StyleInfo.thumbnail_png in replies (a larger one is left out)
    max_list_styles_page: int = 100  # styles in one ListStyles reply
    list_reply_bytes: int = (
        3 << 20
    )  # one ListStyles reply, under clients' default 4 MiB receive limit

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"{name} = {value}: expected at least 1")


def shown(value: str, limit: int = 80) -> str:
    """`value` as an error message may quote it: repr'd, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(value)} characters)"


def trimmed(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def check_length(field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise InvalidArgument(
            f"{field} has {len(value)} characters ({shown(value, 40)}): expected at most {limit}"
        )


def check_config(config: pb.SessionConfig, limits: FieldLimits) -> None:
    """Refuse a SessionConfig whose strings or mix list pass a limit; costs O(max_mix_styles)."""
    if len(config.mix) > limits.max_mix_styles:
        raise InvalidArgument(
            f"config.mix has {len(config.mix)} entries: expected at most {limits.max_mix_styles} "
            "(max_mix_styles)"
        )
    check_length("config.style", config.style, limits.max_name_chars)
    for i, part in enumerate(config.mix):
        check_length(f"config.mix[{i}].style", part.style, limits.max_name_chars)
    check_length("config.backend", config.backend, limits.max_option_chars)
    check_length("config.precision", config.precision, limits.max_option_chars)


def check_add_style(name: str, model: str, display_name: str, limits: FieldLimits) -> None:
    """Refuse a new style's name, model or display name past a limit (AddStyle's fields)."""
    check_length("name", name, limits.max_name_chars)
    check_length("model", model, limits.max_name_chars)
    check_length("display_name", display_name, limits.max_display_name_chars)
    if not display_name.isprintable():
        raise InvalidArgument(
            f"display_name {shown(display_name, 40)} has a control character "
            "(a line break, a tab...): expected one line of printable text"
        )
