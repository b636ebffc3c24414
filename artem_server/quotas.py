"""Limits on AddStyle: the image's size, and how many styles clients may store at run time and
how many bytes those take on disk, all clients together. Checked before the image is decoded
(RESOURCE_EXHAUSTED, naming the limit); replacing a style added earlier adds nothing.

It runs as an interceptor around the AddStyle handler, so the check holds whatever that handler
does, and AddStyle calls run one at a time behind it (two concurrent adds cannot both take the
last slot).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
from artem_protocol.rpc import pb

from .errors import ArtemError, ResourceExhausted, status_of
from .field_limits import FieldLimits
from .field_limits import check_add_style as check_fields
from .limits import ServerLimits
from .metrics import Metrics
from .models.card import CARD_FILE, ModelCard
from .models.store import list_entry_dirs

log = logging.getLogger(__name__)

ADD_STYLE = "/artem.v1.Stylizer/AddStyle"
ADDED_BY = "AddStyle"  # how AddStyle's entries begin their card's made_by["by"]


def added_styles(models_dir: Path | None) -> dict[str, int]:
    """Styles in `models_dir` that AddStyle stored: name -> bytes on disk."""
    found: dict[str, int] = {}
    for path in list_entry_dirs(models_dir) if models_dir is not None else []:
        try:
            card = ModelCard.read(path / CARD_FILE)
        except Exception:  # a broken entry is the registry's to report
            continue
        if str(card.made_by.get("by", "")).startswith(ADDED_BY):
            found[path.name] = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    return found


def check_add_style(
    name: str, image_bytes: int, replace: bool, models_dir: Path | None, limits: ServerLimits
) -> None:
    """Raise ResourceExhausted when this AddStyle would pass a limit."""
    if image_bytes > limits.max_style_image_bytes:
        raise ResourceExhausted(
            f"image has {image_bytes} bytes, more than this server's limit of "
            f"{limits.max_style_image_bytes} (max_style_image_bytes)"
        )
    stored = added_styles(models_dir)
    if replace and name in stored:
        return
    if len(stored) >= limits.max_added_styles:
        raise ResourceExhausted(
            f"this server already holds {len(stored)} styles added at run time, its limit "
            f"(max_added_styles = {limits.max_added_styles}); remove some from its models "
            "directory first"
        )
    total = sum(stored.values())
    if total >= limits.max_added_styles_bytes:
        raise ResourceExhausted(
            f"styles added at run time already take {total} bytes, this server's limit "
            f"(max_added_styles_bytes = {limits.max_added_styles_bytes})"
        )


class StyleQuotaInterceptor(grpc.aio.ServerInterceptor):
    """Applies `check_add_style` to every AddStyle call before its handler runs."""

    def __init__(
        self,
        limits: ServerLimits,
        models_dir: Path | None,
        metrics: Metrics | None = None,
        fields: FieldLimits = FieldLimits(),
    ) -> None:
        self.limits = limits
        self.fields = fields
        self.models_dir = models_dir
        self.metrics = metrics
        self._lock: asyncio.Lock | None = None  # made on the server's loop, at the first call

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable],
        details: grpc.HandlerCallDetails,
    ):
        handler = await continuation(details)
        if handler is None or details.method != ADD_STYLE or handler.unary_unary is None:
            return handler
        behaviour = handler.unary_unary

        async def checked(request, context: grpc.aio.ServicerContext):
            if not isinstance(
                request, pb.AddStyleRequest
            ):  # bytes that did not parse: refused inside
                result = behaviour(request, context)
                return await result if inspect.isawaitable(result) else result
            self._lock = self._lock or asyncio.Lock()
            async with self._lock:
                try:
                    check_fields(
                        request.name, request.model, request.display_name, self.fields
                    )  # lengths first
                    check_add_style(
                        request.name,
                        len(request.image),
                        request.replace,
                        self.models_dir,
                        self.limits,
                    )
                except ArtemError as e:
                    if self.metrics is not None:
                        self.metrics.count_error(e.code)
                    await context.abort(*status_of(e))
                result = behaviour(request, context)
                return await result if inspect.isawaitable(result) else result

        return grpc.unary_unary_rpc_method_handler(
            checked,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
