"""`artem models import` for ONNX files: one style network (`style.onnx`), or a pair of a
style-prediction network and a transfer network (Magenta's arbitrary stylization), which is
which read from the graphs.

What the graph does not say is settled by running it, on the CPU, before anything is stored:

- a graph exported at a fixed size (the ONNX Model Zoo's 1x3x224x224) is tried at other sizes
  with its batch, height and width made symbolic; a fully convolutional net then runs at the
  frame's own size, as a fast-neural-style net is meant to. One that fails there (a Reshape to
  the exported shape) runs at its size, and frames are resized to it and back;
- what the height and width must be multiples of (the sizes where the output keeps the input's
  size);
- whether it takes batches (both eyes at once) or one view at a time;
- that it runs on a photograph (the thumbnail) with finite values in the range assumed: a net
  whose output spans 0..1 where 0..255 was assumed is refused, naming the flag that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .card import ModelCard, validate_name
from .onnx_export import ONNX_FILE
from .onnx_graph import (
    GraphRoles,
    ImageSpec,
    OnnxGraphError,
    check_layout,
    digest,
    free_dims,
    inspect_image_graph,
    load_graph,
    vector_dims,
    with_flags,
)
from .onnx_net import OnnxGraph, OnnxNet, OnnxRuntimeMissing, make_session, run_host
from .onnx_pair import (
    PREDICT_FILE,
    ROLE_NETWORK,
    ROLE_PAIR,
    TRANSFER_FILE,
    OnnxPair,
    probe_style_image,
    style_vector,
)
from .store import Entry, write_entry
from .thumbnail import content_image, render_thumbnail

SUFFIX = ".onnx"
MULTIPLES = (1, 2, 4, 8, 16, 32)
MIN_PROBE = 32  # probe sizes are at least this: a net's pads need a few pixels at its depth


@dataclass(frozen=True)
class ImportFlags:
    """The user's overrides of what the graph says (None: read from the graph)."""

    layout: str | None = None
    channels: str | None = None
    range: str | None = None
    output_range: str | None = None
    resize: bool | None = None  # True: serve a fixed-size graph by resizing frames to it

    def apply(self, spec: ImageSpec) -> ImageSpec:
        return with_flags(
            spec,
            layout=self.layout,
            channels=self.channels,
            range=self.range,
            output_range=self.output_range,
        )


@dataclass(frozen=True)
class Imported:
    """What an import stored, the spec it serves with, and what looked wrong when it ran."""

    entry: Entry
    spec: ImageSpec
    warnings: list[str]


def _probe_sizes(m: int) -> tuple[int, int]:
    """(H, W): odd multiples of `m` (so not multiples of 2m), at least MIN_PROBE, not square."""
    o = -(-MIN_PROBE // m)
    o += 1 - o % 2
    return m * o, m * (o + 2)


class _Probe:
    """Runs one graph quietly on the CPU and says whether the output keeps the input's shape."""

    def __init__(self, data: bytes, spec: ImageSpec, style: torch.Tensor | None, what: str) -> None:
        self.net = OnnxNet(OnnxGraph(data), spec, style)
        try:
            self.session = make_session(data, torch.device("cpu"), quiet=True)
        except OnnxRuntimeMissing as e:
            raise OnnxGraphError(str(e)) from None
        except Exception as e:  # the runtime's refusal: an op, opset or IR version it lacks
            raise OnnxGraphError(f"{what}: ONNX Runtime cannot load it: {_first_line(e)}") from None

    def keeps_shape(self, n: int, h: int, w: int) -> bool:
        x = torch.rand(n, 3, h, w) * 255
        spec = self.net.spec
        try:
            feeds = self.net.feeds(x)
            y = run_host(self.session, feeds, spec.output)
        except Exception:  # the runtime's own error: this shape is not one it runs
            return False
        return tuple(y.shape) == tuple(feeds[spec.input].shape)

    def multiple(self) -> int | None:
        """The smallest of MULTIPLES at whose sizes the graph keeps the shape; None: none."""
        for m in MULTIPLES:
            if self.keeps_shape(1, *_probe_sizes(m)):
                return m
        return None


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def settle_size(
    data: bytes, model, spec: ImageSpec, style: torch.Tensor | None, flags: ImportFlags, what: str
) -> tuple[bytes, ImageSpec]:
    """The graph bytes to serve and the spec with size, batch, resize and size multiple found
    by running the graph (see the module's docstring)."""
    sources = dict(spec.sources)
    if spec.size is not None and flags.resize is not True:
        freed = free_dims(model, spec)
        free_spec = replace(spec, batch=None, resize=False)
        m = _Probe(freed, free_spec, style, what).multiple()
        if m is not None:
            h, w = spec.size
            sources["size"] = (
                f"graph shape {h}x{w}; runs at any size (checked), served at the frame's"
            )
            return _settle_batch(
                freed, replace(free_spec, size_multiple=m, sources=sources), style, what
            )
        if flags.resize is False:
            raise OnnxGraphError(
                f"{what} was exported at {spec.size[0]}x{spec.size[1]} and does not run at other "
                "sizes: leave out --no-resize to serve it by resizing frames to its size"
            )
    if spec.size is not None:
        h, w = spec.size
        sources["size"] = f"graph shape {h}x{w}; frames are resized to it and back"
        spec = replace(spec, resize=True, size_multiple=1, sources=sources)
        if not _Probe(data, spec, style, what).keeps_shape(spec.batch or 1, h, w):
            raise OnnxGraphError(
                f"{what}: its output {spec.output!r} does not have the input's shape at the "
                f"graph's own size {h}x{w}: expected an image-to-image network"
            )
        return data, spec
    m = _Probe(data, spec, style, what).multiple()
    if m is None:
        raise OnnxGraphError(
            f"{what}: at no size tried (multiples of {', '.join(map(str, MULTIPLES))}) does its "
            f"output {spec.output!r} have the input's shape: expected an image-to-image network"
        )
    sources["size"] = f"any (graph shape), multiples of {m} (checked)"
    return _settle_batch(data, replace(spec, size_multiple=m, sources=sources), style, what)


def _settle_batch(
    data: bytes, spec: ImageSpec, style: torch.Tensor | None, what: str
) -> tuple[bytes, ImageSpec]:
    """A graph of symbolic batch that cannot run two views at once runs them one by one."""
    if spec.batch is None:
        h, w = _probe_sizes(spec.size_multiple)
        if not _Probe(data, spec, style, what).keeps_shape(2, h, w):
            spec = replace(spec, batch=1)
    return data, spec


def check_output(net: OnnxNet, what: str) -> tuple[bytes, list[str]]:
    """Run `net` once on the thumbnail photograph: its PNG and what looks wrong (an output that
    hardly varies when read in the range assumed); OnnxGraphError when it does not run or gives
    non-finite values."""
    x = torch.from_numpy(content_image().copy()).permute(2, 0, 1)[None].float()
    try:
        with torch.inference_mode():
            y = net(x)
    except Exception as e:
        raise OnnxGraphError(
            f"{what} does not run on a {x.shape[-1]}x{x.shape[-2]} photo: {e}"
        ) from e
    if tuple(y.shape) != tuple(x.shape):
        raise OnnxGraphError(
            f"{what} turned a {tuple(x.shape)} image into {tuple(y.shape)}: expected the same shape"
        )
    if not torch.isfinite(y).all():
        raise OnnxGraphError(f"{what} gives non-finite values (NaN or inf) on a photo")
    warnings = []
    span = float(y.max() - y.min())
    if span < 4.0:  # a trained net's output over a photo spans far more than 4 grey levels
        spec = net.spec
        warnings.append(
            f"on a photo its output spans {span:.3g} grey levels when read as {spec.output_range} "
            f"(input read as {spec.range}); if its frames look flat, import it again with "
            "--range 0..255|0..1|-1..1 (input and output) or --output-range"
        )
    return render_thumbnail(net), warnings


def _read(path: Path) -> tuple[bytes, object]:
    data = Path(path).read_bytes()
    return data, load_graph(data, str(path))


def _flags_made_by(flags: ImportFlags) -> dict:
    return {k: v for k, v in flags.__dict__.items() if v is not None}


def import_network(
    path: Path,
    name: str,
    models_dir: Path,
    flags: ImportFlags = ImportFlags(),
    *,
    license: str = "",
    overwrite: bool = False,
) -> Imported:
    """Store one style network (one image in, one image out) as an entry of kind `onnx`."""
    path = Path(path)
    validate_name(name)
    data, model = _read(path)
    spec, roles = inspect_image_graph(model, str(path))
    _refuse_half_pair(roles, path)
    if roles.kind != "image":
        raise OnnxGraphError(_not_a_style_network(roles, path))
    spec = flags.apply(spec)
    check_layout(roles.image_in, spec.layout)
    served, spec = settle_size(data, model, spec, None, flags, str(path))
    thumb, warnings = check_output(OnnxNet(OnnxGraph(served), spec), str(path))
    card = ModelCard(
        name=name,
        kind="onnx",
        architecture={"role": ROLE_NETWORK, **spec.to_dict()},
        source=f"imported from {path.name}",
        license=license or "unknown: as published with the source file",
        made_by={
            "command": f"artem models import {path.name} --name {name}",
            "flags": _flags_made_by(flags),
            "read_from": spec.sources,
            "file_digest": digest(data),
            "warnings": warnings,
        },
        notes=describe(spec),
    )
    entry = write_entry(models_dir, card, {}, thumb, overwrite=overwrite, files={ONNX_FILE: served})
    return Imported(entry, spec, warnings)


def import_pair(
    paths: list[Path],
    name: str,
    models_dir: Path,
    flags: ImportFlags = ImportFlags(),
    *,
    license: str = "",
    overwrite: bool = False,
) -> Imported:
    """Store a style-prediction network and a transfer network as one pair entry (a model that
    takes styles from images, not a style itself); the files may come in either order."""
    validate_name(name)
    found = {}
    for p in map(Path, paths):
        data, model = _read(p)
        spec, roles = inspect_image_graph(model, str(p))
        found.setdefault(roles.kind, []).append((p, data, model, spec, roles))
    if len(found.get("predict", [])) != 1 or len(found.get("transfer", [])) != 1:
        seen = "; ".join(f"{e[0]}: {kind}" for kind, es in found.items() for e in es)
        raise OnnxGraphError(
            "an ONNX pair is a style-prediction network (a style image in, a style vector out) "
            "and a transfer network (a content image and that vector in, an image out); "
            f"found {seen}"
        )
    ppath, pdata, _, pspec, proles = found["predict"][0]
    tpath, tdata, tmodel, tspec, troles = found["transfer"][0]
    dims = tspec.style_dims
    outs = [t for t in proles.vector_out if _dims_or_none(t) == dims]
    if not outs:
        shown = ", ".join(t.shown() for t in proles.vector_out)
        raise OnnxGraphError(
            f"{ppath}'s outputs ({shown}) have no vector of the {dims} values {tpath}'s "
            f"{tspec.style_input!r} takes: expected the pair's prediction network"
        )
    tspec = flags.apply(tspec)
    if flags.range is None:
        # a predictor ends in a bare vector: its input range is the transfer network's
        pspec = replace(
            pspec, range=tspec.range, sources={**pspec.sources, "range": "the transfer network's"}
        )
    pspec = flags.apply(replace(pspec, output=outs[0].name, output_shape=(1, *outs[0].dims[1:])))
    check_layout(troles.image_in, tspec.layout)
    check_layout(proles.image_in, pspec.layout)
    if pspec.size is not None:
        pspec = replace(pspec, resize=True)  # a style image is resized to its fixed size
    pair = OnnxPair(
        name=name,
        predictor=OnnxNet(OnnxGraph(pdata), replace(pspec, batch=1)),
        transfer_graph=None,  # set below, once its size is settled
        transfer_spec=tspec,
        predictor_digest=digest(pdata),
    )
    try:
        vector = style_vector(pair, probe_style_image())
    except Exception as e:
        raise OnnxGraphError(f"{ppath} does not run on a photo: {e}") from e
    served, tspec = settle_size(tdata, tmodel, tspec, vector, flags, str(tpath))
    pair = replace(pair, transfer_graph=OnnxGraph(served), transfer_spec=tspec)
    thumb, warnings = check_output(pair.style(vector), str(tpath))
    card = ModelCard(
        name=name,
        kind="onnx",
        architecture={
            "role": ROLE_PAIR,
            "transfer": tspec.to_dict(),
            "predictor": pair.predictor.spec.to_dict(),
            "predictor_digest": pair.predictor_digest,
        },
        source=f"imported from {ppath.name} and {tpath.name}",
        license=license or "unknown: as published with the source files",
        made_by={
            "command": f"artem models import {ppath.name} {tpath.name} --name {name}",
            "flags": _flags_made_by(flags),
            "read_from": {"transfer": tspec.sources, "predictor": pair.predictor.spec.sources},
            "warnings": warnings,
        },
        notes=f"style prediction {ppath.name} + transfer {tpath.name}; {describe(tspec)}",
    )
    entry = write_entry(
        models_dir,
        card,
        {},
        thumb,
        overwrite=overwrite,
        files={PREDICT_FILE: pdata, TRANSFER_FILE: served},
    )
    return Imported(entry, tspec, warnings)


def _dims_or_none(t) -> int | None:
    try:
        return vector_dims(t)
    except OnnxGraphError:
        return None


def _refuse_half_pair(roles: GraphRoles, path: Path) -> None:
    if roles.kind == "transfer":
        raise OnnxGraphError(
            f"{path} takes a style vector ({roles.vector_in[0].shown()}) beside the image: "
            "import it with its style-prediction network, "
            f"`artem models import predict.onnx {path.name} --name NAME`"
        )
    if roles.kind == "predict":
        raise OnnxGraphError(
            f"{path} turns an image into a vector ({roles.vector_out[0].shown()}): a "
            "style-prediction network; import it with its transfer network, "
            f"`artem models import {path.name} transfer.onnx --name NAME`"
        )


def _not_a_style_network(roles: GraphRoles, path: Path) -> str:
    ins = ", ".join(t.shown() for t in [roles.image_in, *roles.vector_in] if t is not None)
    outs = ", ".join(t.shown() for t in [roles.image_out, *roles.vector_out] if t is not None)
    return (
        f"{path} is not a style network: expected one image input (and at most one style "
        f"vector) and an image output; it has inputs {ins} and outputs {outs}"
    )


def describe(spec: ImageSpec) -> str:
    """One line for the card's notes and the import's message."""
    size = (
        f"fixed {spec.size[0]}x{spec.size[1]} (frames resized to it)"
        if spec.resize and spec.size
        else f"any size, multiples of {spec.size_multiple}"
    )
    out = "" if spec.output_range == spec.range else f", output {spec.output_range}"
    batch = "" if spec.batch is None else f", batch {spec.batch}"
    return (
        f"{spec.input} {spec.layout.upper()} {spec.channels.upper()} {spec.range}{out}, "
        f"{size}{batch} -> {spec.output}"
    )
