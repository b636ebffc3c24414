"""`artem models pull NAME`: fetch a public pretrained file, check it, and install it through
the same importers as `artem models import` (or into torch's hub cache, for loss networks).

Nothing is changed unless every file of an item downloaded, matched its catalogue size/hash where
those are known, and imported: files go to a temporary folder first, and each entry is written
atomically by `store.write_entry`.

Where the catalogue has no hash (the publisher gives none and none could be checked offline),
it says so, and the file is checked by a successful import instead: weights that load as data
(`torch.load(weights_only=True)`) with exactly the expected keys and shapes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .adain_import import import_adain
from .card import validate_name
from .importers import CheckpointError, generator_from_state_dict, import_generator, read_state_dict
from .store import EntryExists

BASE_URL_ENV = "ARTEM_PULL_BASE_URL"


class PullError(RuntimeError):
    """A pull that changed nothing: unreachable, refused, or not what the catalogue promised."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file. `sha256` is a full hex digest or, where only that is known, a prefix
    (torchvision names its files by the first 8 hex digits of their SHA-256, which is also all
    that torch.hub checks); None: unknown, the file is checked by importing it."""

    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Item:
    """A catalogue entry: what it installs (`kind`), from where, under which licence."""

    name: str
    kind: str  # "hub": a loss-network file for torch's hub cache; "generators"; "adain"
    files: tuple[RemoteFile, ...]
    license: str
    source: str  # the page that publishes it
    description: str
    styles: tuple[str, ...] = ()  # kind "generators": which members of the archive to import


_FNS_ZIP = RemoteFile("https://www.dropbox.com/s/lrvwfehqdcxoza8/saved_models.zip?dl=1")
_FNS_LICENSE = (
    "pytorch/examples is BSD-3-Clause; the saved models have no licence of their own. The "
    "style images are artworks (udnie: Francis Picabia, 1913; rain_princess: Leonid Afremov): "
    "check their rights before shipping"
)
_FNS_SOURCE = "https://github.com/pytorch/examples/tree/main/fast_neural_style"
_FNS_STYLES = ("candy", "mosaic", "rain_princess", "udnie")
_ADAIN_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"

CATALOGUE: dict[str, Item] = {
    item.name: item
    for item in [
        Item(
            "vgg16",
            "hub",
            (
                RemoteFile(
                    "https://download.pytorch.org/models/vgg16-397923af.pth", sha256="397923af"
                ),
            ),
            "BSD-3-Clause (torchvision); weights trained on ImageNet, whose images are for "
            "non-commercial research",
            "https://pytorch.org/vision/stable/models/generated/torchvision.models.vgg16.html",
            "VGG-16 ImageNet weights: artem-train's loss network (loss=vgg16)",
        ),
        Item(
            "vgg19",
            "hub",
            (
                RemoteFile(
                    "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", sha256="dcbb9e9d"
                ),
            ),
            "BSD-3-Clause (torchvision); weights trained on ImageNet, whose images are for "
            "non-commercial research",
            "https://pytorch.org/vision/stable/models/generated/torchvision.models.vgg19.html",
            "VGG-19 ImageNet weights: the adain trainer's encoder (loss=adain)",
        ),
        Item(
            "fast-neural-style",
            "generators",
            (_FNS_ZIP,),
            _FNS_LICENSE,
            _FNS_SOURCE,
            "pytorch/examples' four pretrained styles: candy, mosaic, rain_princess, udnie",
            _FNS_STYLES,
        ),
        *[
            Item(
                s,
                "generators",
                (_FNS_ZIP,),
                _FNS_LICENSE,
                _FNS_SOURCE,
                f"pytorch/examples' pretrained style {s} (from saved_models.zip)",
                (s,),
            )
            for s in _FNS_STYLES
        ],
        Item(
            "pytorch-adain",
            "adain",
            (
                RemoteFile(_ADAIN_RELEASE + "vgg_normalised.pth"),
                RemoteFile(_ADAIN_RELEASE + "decoder.pth"),
            ),
            "MIT (pytorch-AdaIN code); the released weights have no licence of their own",
            "https://github.com/naoto0804/pytorch-AdaIN",
            "pytorch-AdaIN's encoder and decoder: an adain model",
        ),
    ]
}


def rebase(url: str, base_url: str | None) -> str:
    """`url` with its scheme and host replaced by `base_url` (tests and mirrors); path kept."""
    if not base_url:
        return url
    parts = urllib.parse.urlsplit(url)
    return base_url.rstrip("/") + urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))


def file_name(url: str) -> str:
    return Path(urllib.parse.urlsplit(url).path).name


def download(remote: RemoteFile, base_url: str | None, dest: Path, timeout: float = 60.0) -> Path:
    """Fetch one file into folder `dest` and check its size and hash; raises PullError."""
    url = rebase(remote.url, base_url)
    path = dest / file_name(remote.url)
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(path, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as e:
        raise PullError(f"could not download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise PullError(
            f"could not download {url}: {reason} (offline? try --base-url for a mirror)"
        ) from None
    if remote.size is not None and size != remote.size:
        raise PullError(f"{url}: got {size} bytes, the catalogue says {remote.size}: refused")
    if remote.sha256 is not None and not digest.hexdigest().startswith(remote.sha256):
        raise PullError(
            f"{url}: SHA-256 {digest.hexdigest()} does not match the catalogue's "
            f"{remote.sha256}: refused"
        )
    return path


def pull(
    name: str,
    models_dir: Path,
    *,
    base_url: str | None = None,
    force: bool = False,
    hub_dir: Path | None = None,
    say: Callable[[str], None] = print,
) -> list[Path]:
    """Install catalogue item `name`; returns the paths written. `hub_dir`: torch's hub
    directory (default `torch.hub.get_dir()`)."""
    item = CATALOGUE.get(name)
    if item is None:
        raise PullError(f"no {name!r} in the catalogue; known: {', '.join(CATALOGUE)}")
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    installers = {"hub": _install_hub, "generators": _install_generators, "adain": _install_adain}
    with tempfile.TemporaryDirectory(prefix="artem-pull-") as tmp:
        files = [download(f, base_url, Path(tmp)) for f in item.files]
        written = installers[item.kind](
            item, files, Path(models_dir), force, Path(hub_dir or torch.hub.get_dir())
        )
    for f in item.files:
        check = f"sha256 {f.sha256}" if f.sha256 else "no published hash: checked by importing it"
        say(f"pulled {rebase(f.url, base_url)} ({check})")
    say(f"source: {item.source}\nlicence: {item.license}")
    for p in written:
        say(f"installed {p}")
    return written


def _install_hub(
    item: Item, files: list[Path], models_dir: Path, force: bool, hub_dir: Path
) -> list[Path]:
    """Into `<hub_dir>/checkpoints/` under torchvision's file name, where artem-train looks."""
    sd = read_state_dict(files[0])
    if tuple(sd.get("features.0.weight", torch.empty(0)).shape) != (64, 3, 3, 3):
        raise CheckpointError(
            f"{files[0].name}: not a torchvision VGG state dict (no features.0.weight [64, 3, 3, "
            f"3])"
        )
    target = hub_dir / "checkpoints" / files[0].name
    if target.exists() and not force:
        raise EntryExists(f"{target} already exists (use --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.partial")
    shutil.copyfile(files[0], staging)
    os.replace(staging, target)
    return [target]


def _install_generators(
    item: Item, files: list[Path], models_dir: Path, force: bool, hub_dir: Path
) -> list[Path]:
    """Import the archive's chosen members; all are read and checked before any is written."""
    for style in item.styles:
        validate_name(style)
        if (models_dir / style).exists() and not force:
            raise EntryExists(
                f"a model named {style!r} already exists in {models_dir} (use --force to replace "
                f"it)"
            )
    try:
        with zipfile.ZipFile(files[0]) as archive:
            members = {Path(m).stem: m for m in archive.namelist() if m.endswith(".pth")}
            missing = [s for s in item.styles if s not in members]
            if missing:
                raise CheckpointError(
                    f"{files[0].name} has no {missing} (.pth members: {sorted(members)})"
                )
            # Extracted by our own names, never the archive's paths.
            paths = [files[0].parent / f"{s}.pth" for s in item.styles]
            for style, path in zip(item.styles, paths):
                path.write_bytes(archive.read(members[style]))
    except zipfile.BadZipFile as e:
        raise CheckpointError(f"{files[0].name}: not a zip archive ({e})") from None
    for path in paths:
        generator_from_state_dict(read_state_dict(path))
    return [
        import_generator(
            path,
            style,
            models_dir,
            license=item.license,
            overwrite=force,
            source=f"{item.files[0].url} ({path.name})",
        )[0].path
        for style, path in zip(item.styles, paths)
    ]


def _install_adain(
    item: Item, files: list[Path], models_dir: Path, force: bool, hub_dir: Path
) -> list[Path]:
    entry = import_adain(
        files,
        item.name,
        models_dir,
        license=item.license,
        overwrite=force,
        source=" + ".join(f.url for f in item.files),
    )
    return [entry.path]
