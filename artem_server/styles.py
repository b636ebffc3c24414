"""Adding a style from an image to a model that takes styles (an adain model), for AddStyle
(gRPC) and `artem styles add` (CLI): check the name and the image at the edge, decode under
limits, let the model's kind make the style (`Kind.add_style`: an adain model computes the
image's statistics once) and write the entry atomically, and let the registry see it. A failed
add stores nothing.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import AlreadyExists, InvalidArgument, Unavailable
from .field_limits import FieldLimits, check_add_style
from .kinds import kind_of, with_styles
from .kinds.base import Cancelled, article
from .models.card import CARD_FILE, InvalidName, ModelCard, validate_name
from .models.store import EntryExists
from .registry import IDENTITY, Registry, Style

log = logging.getLogger(__name__)

FORMATS = ("PNG", "JPEG")
MIN_SIDE = 16  # the encoder's three pools leave 2x2 at relu4_1: enough for a variance


@dataclass(frozen=True)
class StyleImageLimits:
    """What a style image may be, all judged from the file's header before anything is decoded:
    a small file may claim a huge image (a decompression bomb: a 38 KB PNG of 6300x6300 zeros).
    At most `max_decoded_pixels` are decoded, and the encoder sees at most `max_style_pixels`
    (its memory grows with 64 float channels a pixel: about 1 GB at 1024x1024)."""

    max_bytes: int = 32 * 1024 * 1024
    max_decoded_pixels: int = 24_000_000  # a 6000x4000 photo
    max_style_pixels: int = 1024 * 1024
    max_size: int = 1024


def _encoded_size(w: int, h: int, size: int | None) -> tuple[int, int]:
    """The (w, h) the encoder sees: the image's own, or scaled so the shorter side is `size`."""
    if not size:
        return w, h
    scale = size / min(w, h)
    return max(size, round(w * scale)), max(size, round(h * scale))


def decode_style_image(
    data: bytes, size: int | None = None, limits: StyleImageLimits = StyleImageLimits()
) -> np.ndarray:
    """PNG/JPEG bytes -> (H, W, 3) uint8 RGB sRGB; with `size`, scaled so the shorter side is
    `size` (pytorch-AdaIN's --style_size). Raises InvalidArgument naming `image` or `size`,
    before decoding when the header says the image or its encoding would pass a limit."""
    if not data:
        raise InvalidArgument("image is empty: expected the bytes of a PNG or JPEG file")
    if len(data) > limits.max_bytes:
        raise InvalidArgument(
            f"image has {len(data)} bytes: more than this server's limit of {limits.max_bytes}"
        )
    if size is not None and not MIN_SIDE <= size <= limits.max_size:
        raise InvalidArgument(
            f"size = {size}: expected 0 (the image's own size) or {MIN_SIDE}..{limits.max_size} "
            "pixels for the shorter side"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
            w, h = im.size
            if w * h > limits.max_decoded_pixels:
                raise InvalidArgument(
                    f"image is {w}x{h} = {w * h} pixels: more than this server decodes "
                    f"({limits.max_decoded_pixels}, max_style_decoded_pixels)"
                )
            tw, th = _encoded_size(w, h, size)
            if tw * th > limits.max_style_pixels:
                raise InvalidArgument(
                    f"image would be encoded at {tw}x{th} = {tw * th} pixels: more than the "
                    f"{limits.max_style_pixels} a style is encoded at (max_style_pixels); give "
                    "`size` to scale it down" + (" further" if size else "")
                )
            if min(tw, th) < MIN_SIDE:
                raise InvalidArgument(
                    f"image is {w}x{h}: expected at least {MIN_SIDE} pixels a side"
                )
            if size and im.format == "JPEG":
                im.draft(
                    "RGB", (tw, th)
                )  # decode at 1/2, 1/4 or 1/8 scale where that still covers it
            rgb = ImageOps.exif_transpose(im).convert(
                "RGB"
            )  # a phone photo's EXIF says which way is up
    except InvalidArgument:
        raise
    except (
        Exception
    ) as e:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ... for junk
        raise InvalidArgument(
            f"image does not decode as PNG or JPEG ({e.__class__.__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no detail'})"
        ) from None
    if size:  # the size of the picture the right way up (EXIF may have swapped its sides)
        rgb = rgb.resize(_encoded_size(*rgb.size, size), Image.Resampling.BICUBIC)
    return np.asarray(rgb)


def check_new_name(registry: Registry, models_dir: Path, name: str, replace: bool) -> None:
    """Refuse a name that is invalid, built in, or taken by anything but a style added from an
    image (an adain style) that `replace` allows to overwrite."""
    try:
        validate_name(name, "name")
    except InvalidName as e:
        raise InvalidArgument(str(e)) from None
    if name == IDENTITY or (
        registry.builtin_dir is not None and (registry.builtin_dir / name).exists()
    ):
        raise AlreadyExists(f"name {name!r} is a built-in style: choose another name")
    card_path = Path(models_dir) / name / CARD_FILE
    if not (Path(models_dir) / name).exists():
        return
    added = " or ".join(f"{article(k.name)} style" for k in with_styles())  # "an adain style"
    if not replace:
        raise AlreadyExists(
            f"name {name!r} is taken in the models directory (set replace to overwrite {added})"
        )
    try:
        existing = ModelCard.read(card_path)
        replaceable = kind_of(existing).base_of(existing) is not None
    except Exception:
        replaceable = False
    if not replaceable:
        raise AlreadyExists(
            f"name {name!r} is taken by an entry that is not {added}; replace overwrites "
            "styles added from images only"
        )


class AddCancel:
    """Lets another thread stop an add before it stores anything (a server shutting down, a
    client that cancelled). `cancel` and the add's commit point take one lock, so an add is
    either cancelled, and stores nothing, or committed, and stores its style."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.cancelled = False
        self.committed = False

    def cancel(self) -> bool:
        """Stop the add if it has not committed; True when it will store nothing."""
        with self._lock:
            self.cancelled = self.cancelled or not self.committed
            return self.cancelled

    def commit(self) -> None:
        with self._lock:
            if self.cancelled:
                raise Cancelled("cancelled before it was stored")
            self.committed = True


def add_style(
    registry: Registry,
    models_dir: Path,
    name: str,
    model_name: str,
    image: bytes,
    size: int | None = None,
    *,
    source: str,
    display_name: str = "",
    replace: bool = False,
    limits: StyleImageLimits = StyleImageLimits(),
    fields: FieldLimits = FieldLimits(),
    cancel: AddCancel | None = None,
) -> Style:
    """Make `image` a style of model `model_name` (one whose kind takes styles), stored in
    `models_dir`; returns the loaded style. Everything is checked before anything is written.
    With `cancel`, the encoding stops soon after `cancel.cancel()` and nothing is stored
    (Unavailable)."""
    check_add_style(name, model_name, display_name, fields)
    check_new_name(registry, models_dir, name, replace)
    model = registry.base(model_name, "model")
    rgb = decode_style_image(image, size or None, limits)
    log.info("style %r: encoding a %dx%d image", name, rgb.shape[1], rgb.shape[0])
    try:
        kind_of(model.card).add_style(
            Path(models_dir),
            name,
            model,
            rgb,
            display_name=display_name,
            source=source,
            made_by={"by": source, "image_bytes": len(image), "size": size or None},
            overwrite=replace,
            cancelled=(lambda: cancel.cancelled) if cancel else None,
            commit=cancel.commit if cancel else None,
        )
    except Cancelled:
        raise Unavailable(
            f"style {name!r} was not stored: the server is shutting down or the call was "
            "cancelled; add it again"
        ) from None
    except EntryExists as e:  # another add of the same name won the race
        raise AlreadyExists(str(e)) from None
    registry.refresh()
    return registry.get(name, "name")
