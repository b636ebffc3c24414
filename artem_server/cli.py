"""The `artem` command: serve, styles, models, stylize, client, eval.

Each subcommand parses its options here and calls one function elsewhere; a user error prints
one line naming the option and exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import grpc

from .logs import configure_logging

DEFAULT_MODELS_DIR = Path("models")


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 256x256") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive")
    return w, h


def cmd_serve(args: argparse.Namespace) -> None:
    from .frames import FrameLimits
    from .server import ServerConfig, serve

    limits = FrameLimits(max_frame_bytes=args.max_frame_bytes)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        models_dir=args.models_dir,
        device=args.device,
        limits=limits,
        run=_run_options(args),
        **_hardening(args),
    )
    asyncio.run(serve(config))


def _hardening(args: argparse.Namespace) -> dict:
    """ServerConfig's limits, security and observability fields from `serve`'s flags."""
    from .limits import Keepalive, ServerLimits
    from .security import TlsFiles, load_token

    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together")
    if args.tls_client_ca is not None and args.tls_cert is None:
        raise UsageError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    limits = ServerLimits(
        max_streams=args.max_streams,
        max_rpcs=max(64, 2 * args.max_streams),
        max_streams_per_connection=args.max_streams_per_connection,
        frame_deadline_s=args.frame_deadline,
        stream_idle_timeout_s=args.stream_idle_timeout,
        max_added_styles=args.max_added_styles,
        max_added_styles_bytes=args.max_added_styles_bytes,
        max_style_image_bytes=args.max_style_image_bytes,
        keepalive=Keepalive(time_s=args.keepalive_time, timeout_s=args.keepalive_timeout),
    )
    tls = TlsFiles(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None
    return dict(
        server_limits=limits,
        tls=tls,
        token=load_token(args.token_file),
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        health_port=args.health_port,
        replica=args.replica,
    )


def _run_options(args: argparse.Namespace):
    from .benchmark.sizes import parse_size
    from .runs import FASTEST, RunOptions

    sizes = [parse_size(t) for t in args.warm_size or []]
    return RunOptions(
        # no --backend: the measured default (on CUDA that is the device's default)
        backend=args.backend or (FASTEST if not args.precision else None),
        precision=args.precision,
        optimize_mode=args.optimize,
        warm_sizes=[(s.views, s.height, s.width) for s in sizes],
    )


def cmd_bench(args: argparse.Namespace) -> None:
    from .benchmark.run import BenchSettings, run_bench

    run_bench(
        BenchSettings(
            sizes=args.size or [],
            variants=args.variant or [],
            e2e_variants=args.e2e_variant or [],
            styles=args.style or [],
            models_dir=args.models_dir,
            device=args.device,
            what=args.what,
            warmup=args.warmup,
            repeats=args.repeats,
            e2e_frames=args.frames,
            transports=args.transport or [],
            json_path=args.json,
            profile_top=args.profile,
        )
    )


def _client_security(args: argparse.Namespace):
    """TLS, mutual TLS and the bearer token for a client command (None: plaintext, no token)."""
    from artem_client.connect import ClientSecurity

    from .security import load_token

    if (args.tls_cert is None) != (args.tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together (mutual TLS)")
    token = load_token(args.token_file)
    if not (args.tls_ca or args.tls_cert or token):
        return None
    read = lambda p: p.read_bytes() if p else None  # noqa: E731
    return ClientSecurity(read(args.tls_ca), read(args.tls_cert), read(args.tls_key), token)


def cmd_styles_list(args: argparse.Namespace) -> None:
    if args.server:
        from artem_client import StylizerClient

        with StylizerClient(args.server, _client_security(args)) as client:
            rows = [
                (
                    s.id,
                    s.kind,
                    s.display_name,
                    s.metadata.get("source", ""),
                    s.metadata.get("model", ""),
                )
                for s in client.list_styles()
            ]
            # the wire's name for them; it does not say their kinds
            names = list(client.server_info().adain_models)
            models = {"": names} if names else {}
    else:
        from .registry import Registry

        registry = Registry(args.models_dir)
        rows = [
            (
                s.id,
                s.card.kind,
                s.card.display_name,
                s.card.source,
                s.kind.base_of(s.card) or "",
            )
            for s in registry.styles()
        ]
        models: dict[str, list[str]] = {}
        for m in registry.bases():
            models.setdefault(m.card.kind, []).append(m.name)
    width = max(len(r[0]) for r in rows)
    for style_id, kind, name, source, model in rows:
        kind = f"{kind}:{model}" if model else kind  # a style added to a model names it
        print(
            f"{style_id:<{width}}  {kind:<9}  {name}  ({source})"
            if source
            else f"{style_id:<{width}}  {kind:<9}  {name}"
        )
    if models:
        from .kinds import with_styles

        every = " and ".join(k.name for k in with_styles())
        for kind, names in models.items():
            print(f"{kind or every} models (for `artem styles add --model`): {', '.join(names)}")


IMAGE_IMPORT_FLAGS = ("layout", "channels", "range", "output_range", "resize")


def cmd_models_import(args: argparse.Namespace) -> None:
    from .kinds import import_files

    imported = import_files(
        args.paths,
        args.name,
        args.models_dir,
        license=args.license,
        overwrite=args.force,
        **{k: getattr(args, k) for k in IMAGE_IMPORT_FLAGS},
    )
    print(imported.message)


def cmd_models_export_onnx(args: argparse.Namespace) -> None:
    """Write model.onnx beside entries' weights, so the onnxruntime backend serves it instead of
    exporting at start. --all: every entry whose kind has a graph (adain styles and xnor nets
    have none: a style's graph is its model's, xnor runs on torch)."""
    from .kinds import export_graph
    from .models.card import validate_name
    from .models.store import list_entry_dirs

    if args.all == bool(args.names):
        raise UsageError("models export-onnx: name entries or give --all (not both)")
    if args.all:
        paths = list_entry_dirs(args.models_dir)
    else:
        paths = [args.models_dir / validate_name(n, "name") for n in args.names]
    for path in paths:
        if not path.is_dir():
            raise UsageError(f"models export-onnx: no entry {path.name!r} in {args.models_dir}")
    for path in paths:
        try:
            written = export_graph(path)
        except ValueError as e:
            if not args.all:
                raise UsageError(f"models export-onnx: {e}") from None
            print(f"skipped {path.name}: {e}")
            continue
        print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)")


def cmd_models_kinds(args: argparse.Namespace) -> None:
    from .kinds import all_kinds

    for kind in all_kinds():
        options = ", ".join(sorted(kind.session_options)) or "none"
        print(f"{kind.name:10} {kind.summary}")
        runs = kind.describe_runs() if kind.runs_model else "no model: frames pass through"
        print(f"{'':10} sessions may set: {options}; runs on: {runs}")
        if kind.import_help:
            print(f"{'':10} artem models import: {kind.import_help}")
        if kind.takes_styles:
            print(f"{'':10} its models take styles from images (artem styles add, AddStyle)")


def cmd_models_pull(args: argparse.Namespace) -> None:
    from .models.pull import CATALOGUE, pull

    if args.list or not args.name:
        for item in CATALOGUE.values():
            print(f"{item.name:18} {item.description}\n{'':18} licence: {item.license}")
        if not args.list:
            raise UsageError("models pull: name an item from the list above")
        return
    pull(args.name, args.models_dir, base_url=args.base_url, force=args.force)


def _mix(text: str) -> list[tuple[str, float]]:
    """`a=0.3,b=0.7` -> [("a", 0.3), ("b", 0.7)]."""
    parts = []
    for item in text.split(","):
        name, _, weight = item.partition("=")
        try:
            parts.append((name.strip(), float(weight)))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected STYLE=WEIGHT, e.g. swirl=0.3,stained-glass=0.7"
            ) from None
    return parts


def _stylize_optimize(args: argparse.Namespace) -> None:
    """--method optimize: Gatys et al.'s pixel optimization. The loss network and its weights
    live in the training package, so this one command imports it (lazily)."""
    from artem_training.optimize import optimize_image
    from PIL import Image

    from .local import output_paths
    from .media import IMAGE_SUFFIXES, read_rgb
    from .server import resolve_device

    if not args.style_image or args.style or args.mix:
        raise UsageError(
            "--method optimize takes --style-image IMG (a file or builtin:mosaic), not "
            "--style/--mix"
        )
    if args.steps < 1:
        raise UsageError(f"--steps {args.steps}: expected a positive number of optimization steps")
    dsts = output_paths(args.inputs, args.output)
    videos = [str(p) for p in args.inputs if p.suffix.lower() not in IMAGE_SUFFIXES]
    if videos:
        raise UsageError(f"--method optimize stylizes images, not videos ({', '.join(videos)})")
    for src, dst in zip(args.inputs, dsts):
        out, losses = optimize_image(
            read_rgb(src), str(args.style_image), args.steps, device=resolve_device(args.device)
        )
        dst.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(out).save(dst)
        print(
            f"{dst} (content loss {losses['content_loss']:.4g}, style loss "
            f"{losses['style_loss']:.4g})"
        )


def cmd_stylize(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from .errors import ArtemError
    from .local import stylize_paths
    from .pipeline import Pipeline
    from .registry import Registry
    from .server import resolve_device
    from .style_choice import ChoiceCache, choose

    if args.method == "optimize":
        return _stylize_optimize(args)
    if not 0.0 <= args.strength <= 1.0:
        raise UsageError(f"--strength {args.strength}: expected a number in [0, 1]")
    if bool(args.style) == bool(args.mix):
        raise UsageError("give --style NAME, or --mix STYLE=WEIGHT,... (not both)")
    from .runs import Runs

    try:
        choice = choose(
            Registry(args.models_dir),
            ChoiceCache(),
            args.style or "",
            args.mix or [],
            args.strength,
            args.preserve_color,
        )
    except ArtemError as e:  # name the command-line options, not the wire's fields
        raise UsageError(
            str(e)
            .replace("config.style", "--style")
            .replace("config.mix", "--mix")
            .replace("config.strength", "--strength")
            .replace("config.preserve_color", "--preserve-color")
        ) from None
    style = replace(choice.style, model=choice.model)  # the module its kind built for the choice
    runs = Runs(Pipeline(resolve_device(args.device)))
    pipeline = runs.bind(
        runs.choose(
            args.backend or "", args.precision or "", args.render_scale, style.kind, style.model
        )
    )
    for dst in stylize_paths(pipeline, style, args.inputs, args.output, choice.pixel_strength):
        print(dst)


def cmd_styles_add(args: argparse.Namespace) -> None:
    from .registry import Registry
    from .styles import add_style

    if not args.image.is_file():
        raise FileNotFoundError(f"image {args.image} does not exist")
    registry = Registry(args.models_dir)
    style = add_style(
        registry,
        args.models_dir,
        args.name,
        args.model,
        args.image.read_bytes(),
        args.size,
        source=f"artem styles add {args.image.name}",
        display_name=args.display_name,
        replace=args.replace,
    )
    size = style.card.architecture.get("image_size")
    encoded = f", encoded at {size[0]}x{size[1]}" if size else ""
    print(
        f"added {style.card.kind} style {style.id!r} (model {args.model!r}{encoded}) to "
        f"{args.models_dir / style.id}"
    )


def cmd_client(args: argparse.Namespace) -> None:
    from .client_command import run_client

    if (args.style is None) == (args.mix is None):
        raise UsageError("client: give either --style or --mix")
    run_client(
        server=args.server,
        style=args.style or "",
        source=args.source,
        frames=args.frames,
        size=args.size,
        stereo=args.stereo,
        out=args.out,
        strength=args.strength,
        pixel_format=args.format,
        max_in_flight=args.max_in_flight,
        transport=args.transport,
        jpeg_quality=args.jpeg_quality,
        security=_client_security(args),
        mix=dict(args.mix) if args.mix else None,
        preserve_color=args.preserve_color,
    )


def cmd_eval_comfort(args: argparse.Namespace) -> None:
    import json

    from .comfort import measure_comfort
    from .local import stylize_array
    from .pipeline import Pipeline
    from .registry import Registry
    from .runs import Runs
    from .server import resolve_device

    if not 0.0 < args.stereo_scale <= 1.0:
        raise UsageError(f"--stereo-scale {args.stereo_scale}: expected a number in (0, 1]")
    if not 64 <= args.pan_size <= 344:
        raise UsageError(
            f"--pan-size {args.pan_size}: expected 64..344 pixels (the astronaut photograph)"
        )
    registry = Registry(args.models_dir)
    styles = [registry.get(s, "--style") for s in args.style]
    runs = Runs(Pipeline(resolve_device(args.device)))
    results = {}
    print(
        f"{'style':16} {'stereo':>7} {'input':>6} {'excess':>7} {'pan':>6} {'input':>6} "
        f"{'strength':>8} {'detail':>6}"
    )
    for style in styles:  # each on its kind's backend unless one is named
        pipeline = runs.bind(
            runs.choose(args.backend or "", args.precision or "", 1.0, style.kind, style.model)
        )
        report = measure_comfort(
            lambda rgb: stylize_array(pipeline, style, rgb),  # noqa: B023
            stereo_scale=args.stereo_scale,
            pan_size=args.pan_size,
        )
        results[style.id] = report.to_dict()
        print(
            f"{style.id:16} {report.stereo.stylized:7.2f} {report.stereo.input:6.2f} "
            f"{report.stereo.excess:7.2f} {report.pan.stylized:6.2f} {report.pan.input:6.2f} "
            f"{report.strength:8.2f} {report.detail:6.3f}"
        )
    text = json.dumps(results, indent=2, sort_keys=True)
    if args.json == "-":
        print(text)
    elif args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="artem", description="ArtEm: real-time style transfer for VR frames."
    )
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    p.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="log lines as text or JSON, both with the stream id (default text)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    def models_dir(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--models-dir",
            type=Path,
            default=DEFAULT_MODELS_DIR,
            help="the models directory (default ./models)",
        )

    def device(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)"
        )

    def client_security(sp: argparse.ArgumentParser) -> None:
        g = sp.add_argument_group("connection security")
        g.add_argument(
            "--tls-ca", type=Path, default=None, help="PEM CA of the server's certificate: use TLS"
        )
        g.add_argument(
            "--tls-cert", type=Path, default=None, help="PEM client certificate (mutual TLS)"
        )
        g.add_argument("--tls-key", type=Path, default=None, help="PEM key of --tls-cert")
        g.add_argument(
            "--token-file",
            type=Path,
            default=None,
            help="file with the server's bearer token (default: $ARTEM_TOKEN, else none)",
        )

    def backend(sp: argparse.ArgumentParser, fastest: bool = False) -> None:
        names = ["torch-eager", "torch-optimized", "onnxruntime"] + (["fastest"] if fastest else [])
        sp.add_argument(
            "--backend",
            choices=names,
            default=None,
            help=(
                "how to run models (default fastest: torch-optimized on CUDA; on a CPU each is "
                "timed once at start and the fastest kept, logged)"
                if fastest
                else "how to run models (default: torch-optimized on CUDA, torch-eager on CPU)"
            ),
        )
        sp.add_argument(
            "--precision",
            choices=["fp32", "fp16", "bf16"],
            default=None,
            help="default: fp16 on CUDA, fp32 on CPU (bf16 for torch-optimized)",
        )

    s = sub.add_parser("serve", help="run the gRPC server")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument(
        "--port", type=int, default=50051, help="port (default 50051; 0 picks a free one)"
    )
    models_dir(s)
    device(s)
    s.add_argument(
        "--max-frame-bytes",
        type=int,
        default=2 * 2064 * 2208 * 4,
        help="largest frame, all views together (default: a Quest 3 stereo RGBA8 frame)",
    )
    backend(s, fastest=True)
    s.add_argument(
        "--optimize",
        choices=["eager", "graph", "compile", "fused"],
        default=None,
        help="torch-optimized's mode (default on CUDA: fused for generator and adain styles, "
        "compile for others and for generators without CuPy; eager on CPU)",
    )
    s.add_argument(
        "--warm-size",
        action="append",
        metavar="SIZE",
        help="frame size to compile for when a style loads: a name (quest2-stereo, "
        "vive-stereo, ...), WxH or WxH-stereo; repeatable (default none)",
    )
    g = s.add_argument_group("limits")
    g.add_argument(
        "--max-streams", type=int, default=8, help="concurrent Stylize streams (default 8)"
    )
    g.add_argument(
        "--max-streams-per-connection",
        type=int,
        default=4,
        help="of them on one client connection (default 4; 0: no own limit, e.g. behind a proxy)",
    )
    g.add_argument(
        "--stream-idle-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="end a stream that sends nothing this long, DEADLINE_EXCEEDED (default 60; 0: never)",
    )
    g.add_argument(
        "--frame-deadline",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="health NOT_SERVING while a frame waits longer for the model; a frame waits this long "
        "for its session's runner to be built (default 5; 0: off)",
    )
    g.add_argument(
        "--max-added-styles", type=int, default=100, help="styles AddStyle may store (default 100)"
    )
    g.add_argument(
        "--max-added-styles-bytes",
        type=int,
        default=64 << 20,
        help="their bytes on disk, together (default 64 MiB)",
    )
    g.add_argument(
        "--max-style-image-bytes",
        type=int,
        default=16 << 20,
        help="one AddStyle image (default 16 MiB)",
    )
    g.add_argument(
        "--keepalive-time",
        type=float,
        default=20.0,
        metavar="SECONDS",
        help="ping a quiet connection after this long (default 20)",
    )
    g.add_argument(
        "--keepalive-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close it when the ping is not answered this fast (default 10)",
    )
    g = s.add_argument_group("security")
    g.add_argument(
        "--tls-cert", type=Path, default=None, help="PEM certificate chain: serve TLS (default off)"
    )
    g.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    g.add_argument(
        "--tls-client-ca",
        type=Path,
        default=None,
        help="PEM CA: clients must present a certificate it signed (mutual TLS; default off)",
    )
    g.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help="file holding the bearer token every call but health must carry (default: "
        "$ARTEM_TOKEN, else none)",
    )
    g = s.add_argument_group("observability")
    g.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus metrics here (default off)"
    )
    g.add_argument(
        "--metrics-host", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)"
    )
    g.add_argument(
        "--health-port",
        type=int,
        default=None,
        help="plaintext port with the health service alone, for probes without TLS (default off)",
    )
    g.add_argument(
        "--replica",
        default="",
        help="this server's name in stream metadata (default hostname:port)",
    )
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("bench", help="time backends and precisions: model only and end to end")
    s.add_argument(
        "--what", choices=["model", "e2e", "all"], default="all", help="what to time (default all)"
    )
    s.add_argument(
        "--size",
        action="append",
        metavar="SIZE",
        help="vive-stereo, index-stereo, quest2-stereo, quest3-stereo, 1080p, small-stereo, "
        "WxH or WxH-stereo; repeatable (default: quest2-stereo and vive-stereo on CUDA, "
        "small-stereo on CPU)",
    )
    s.add_argument(
        "--variant",
        action="append",
        metavar="BACKEND:PRECISION[:MODE]",
        help="e.g. torch-eager:fp32, torch-optimized:fp16:compile, onnxruntime:fp16; "
        "repeatable (default: every one available here; eager fp32 always runs)",
    )
    s.add_argument(
        "--e2e-variant",
        action="append",
        metavar="BACKEND:PRECISION[:MODE]",
        help="variants to time end to end; repeatable (default: eager fp32 and the server's "
        "default on this device)",
    )
    s.add_argument(
        "--style",
        action="append",
        help="style id to time, from --models-dir; repeatable (default random-generator: a "
        "full-size generator with random weights; random-adain: an adain net likewise)",
    )
    s.add_argument("--models-dir", type=Path, default=None, help="models directory for --style")
    device(s)
    s.add_argument(
        "--warmup", type=int, default=None, help="untimed runs first (default 5 on CUDA, 1 on CPU)"
    )
    s.add_argument(
        "--repeats", type=int, default=None, help="timed runs (default 20 on CUDA, 5 on CPU)"
    )
    s.add_argument(
        "--frames",
        type=int,
        default=None,
        help="timed frames end to end (default 30 on CUDA, 5 on CPU)",
    )
    s.add_argument(
        "--transport",
        action="append",
        choices=["inline", "shm"],
        help="client transport end to end; repeatable (default: shm where the client has it)",
    )
    s.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    s.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after each model row, print the N operators and kernels with the most self time "
        "(device time on CUDA; torch.profiler)",
    )
    s.set_defaults(func=cmd_bench)

    styles = sub.add_parser(
        "styles", help="styles a server or models directory offers"
    ).add_subparsers(dest="styles_command", required=True)
    s = styles.add_parser("list", help="list styles")
    src = s.add_mutually_exclusive_group()
    src.add_argument(
        "--models-dir",
        type=Path,
        default=DEFAULT_MODELS_DIR,
        help="list this models directory's styles (default ./models)",
    )
    src.add_argument("--server", help="HOST:PORT: list a running server's styles instead")
    client_security(s)
    s.set_defaults(func=cmd_styles_list)
    s = styles.add_parser(
        "add",
        help="make an image a style of a model that takes styles (an adain model, an onnx pair): "
        "computed once, stored",
    )
    s.add_argument("image", type=Path, help="a PNG or JPEG image")
    s.add_argument("--name", required=True, help="style id to create (a-z, 0-9, '-', '_')")
    s.add_argument("--model", required=True, help="the model it is for (see `artem styles list`)")
    s.add_argument(
        "--size",
        type=int,
        default=None,
        help="scale the image so its shorter side is SIZE pixels (default: its own size)",
    )
    s.add_argument("--display-name", default="", help="name to show (default: from --name)")
    s.add_argument(
        "--replace", action="store_true", help="overwrite a style added from an image of that name"
    )
    s.add_argument(
        "--models-dir",
        type=Path,
        default=DEFAULT_MODELS_DIR,
        help="the models directory to store it in (default ./models)",
    )
    s.set_defaults(func=cmd_styles_add)

    models = sub.add_parser("models", help="manage the models directory").add_subparsers(
        dest="models_command", required=True
    )
    s = models.add_parser("import", help="import a published checkpoint as a style")
    s.add_argument(
        "paths",
        nargs="+",
        type=Path,
        help="a fast_neural_style .pth/.model; pytorch-AdaIN's vgg_normalised.pth and "
        "decoder.pth (either order) for an adain model; an ONNX style network (.onnx), or an "
        "ONNX style-prediction network and its transfer network (either order); `artem models "
        "kinds` lists what each kind imports",
    )
    s.add_argument("--name", required=True, help="style id to create (a-z, 0-9, '-', '_')")
    s.add_argument("--license", default="", help="licence note to record in the model card")
    s.add_argument("--force", action="store_true", help="replace an existing style of that name")
    graph = s.add_argument_group(
        "a network file's image tensors (read from the graph when not given)"
    )
    graph.add_argument("--layout", choices=["nchw", "nhwc"], help="the image tensors' layout")
    graph.add_argument("--channels", choices=["rgb", "bgr"], help="the channel order")
    ranges = ["0..255", "0..1", "-1..1"]
    graph.add_argument("--range", choices=ranges, help="the input's value range (and output's)")
    graph.add_argument("--output-range", choices=ranges, help="the output's, when it differs")
    graph.add_argument(
        "--resize",
        action=argparse.BooleanOptionalAction,
        help="serve a graph of fixed size by resizing frames to it (default: at the frame's "
        "size when the graph runs there, checked at import)",
    )
    models_dir(s)
    s.set_defaults(func=cmd_models_import)

    s = models.add_parser(
        "export-onnx",
        help="write model.onnx beside entries' weights (served by onnxruntime without exporting)",
    )
    s.add_argument("names", nargs="*", help="entries to export (generator styles, adain models)")
    s.add_argument("--all", action="store_true", help="every entry that has an ONNX export")
    models_dir(s)
    s.set_defaults(func=cmd_models_export_onnx)

    s = models.add_parser(
        "kinds", help="the model kinds this server has (with plugins): what each imports and takes"
    )
    s.set_defaults(func=cmd_models_kinds)

    s = models.add_parser(
        "pull", help="download a public pretrained model or loss network (see --list)"
    )
    s.add_argument(
        "name",
        nargs="?",
        help="catalogue item, e.g. mosaic, fast-neural-style, pytorch-adain, vgg16",
    )
    s.add_argument("--list", action="store_true", help="show the catalogue (sources and licences)")
    s.add_argument(
        "--base-url",
        default=None,
        help="fetch from this host instead of the publishers' (a mirror; env ARTEM_PULL_BASE_URL)",
    )
    s.add_argument("--force", action="store_true", help="replace an existing entry or hub file")
    models_dir(s)
    s.set_defaults(func=cmd_models_pull)

    s = sub.add_parser("stylize", help="stylize images or videos locally, without a server")
    s.add_argument("inputs", nargs="+", type=Path, help="PNG/JPEG images or video files")
    s.add_argument(
        "-o", "--output", type=Path, required=True, help="output file (one input) or folder"
    )
    s.add_argument("--style", default=None, help="style id (see `artem styles list`)")
    s.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="0..1, how much style (default 1); AdaIN's alpha for adain styles",
    )
    s.add_argument(
        "--mix",
        type=_mix,
        default=None,
        metavar="STYLE=W,...",
        help="styles of one model mixed by weight (adain styles, onnx pair styles), e.g. "
        "swirl=0.3,stained-glass=0.7 (instead of --style)",
    )
    s.add_argument("--preserve-color", action="store_true", help="adain: keep the input's colours")
    s.add_argument(
        "--method",
        default="model",
        choices=["model", "optimize"],
        help="model (default): run a style model; optimize: optimize the pixels against "
        "--style-image (Gatys et al.; slow, images only, no model needed)",
    )
    s.add_argument(
        "--style-image",
        default=None,
        help="--method optimize: the style image (a file, or builtin:mosaic)",
    )
    s.add_argument(
        "--steps", type=int, default=200, help="--method optimize: Adam steps (default 200)"
    )
    models_dir(s)
    device(s)
    backend(s)
    s.add_argument(
        "--render-scale",
        type=float,
        default=None,
        help="stylize at this fraction of the size, then resize back (default 1)",
    )
    s.set_defaults(func=cmd_stylize)

    s = sub.add_parser("client", help="stream frames to a server and measure it")
    s.add_argument(
        "--server", default="127.0.0.1:50051", help="HOST:PORT (default 127.0.0.1:50051)"
    )
    s.add_argument("--style", default=None, help="style id (or --mix)")
    s.add_argument(
        "--mix",
        type=_mix,
        default=None,
        metavar="STYLE=W,...",
        help="styles of one model mixed by weight (adain styles, onnx pair styles), e.g. "
        "swirl=0.3,stained-glass=0.7",
    )
    s.add_argument("--preserve-color", action="store_true", help="adain: keep the frames' colours")
    s.add_argument(
        "--source",
        default="synthetic",
        help="an image, a folder of images, a video, 'webcam[:DEVICE]' (a camera), "
        "'screen[:X,Y,W,H]' (the screen or a region), or 'synthetic' (default): a pan "
        "over scikit-image's photographs",
    )
    s.add_argument(
        "--frames",
        type=int,
        default=None,
        help="frames to send (default 60 for synthetic; webcam and screen: until Ctrl-C)",
    )
    s.add_argument(
        "--size", type=_size, default=None, help="WxH frame size (default 256x256 for synthetic)"
    )
    s.add_argument(
        "--stereo", action="store_true", help="send two views (left and right eye) per frame"
    )
    s.add_argument(
        "--out", type=Path, default=None, help="folder to save the returned frames as PNG"
    )
    s.add_argument("--strength", type=float, default=None, help="0..1, how much style (default 1)")
    s.add_argument(
        "--format",
        default="rgba8",
        choices=["rgba8", "bgra8", "rgb8"],
        help="pixel format (default rgba8)",
    )
    s.add_argument(
        "--max-in-flight",
        type=int,
        default=1,
        help="frames sent before their reply (default 1: latency; more: throughput, may drop)",
    )
    s.add_argument(
        "--transport",
        default="inline",
        choices=["inline", "shm", "jpeg"],
        help="how pixels travel: inline (default), shm (shared memory, same host), jpeg (networks)",
    )
    s.add_argument(
        "--jpeg-quality",
        type=int,
        default=None,
        choices=range(1, 101),
        metavar="1..100",
        help="quality of JPEG frames both ways (default 90)",
    )
    client_security(s)
    s.set_defaults(func=cmd_client)

    evals = sub.add_parser("eval", help="measure styles").add_subparsers(
        dest="eval_command", required=True
    )
    s = evals.add_parser(
        "comfort",
        help="stereo and pan warping errors (eye disagreement, flicker), strength and detail",
    )
    s.add_argument(
        "--style",
        action="append",
        required=True,
        help="style id to measure (repeatable); adain styles at alpha 1",
    )
    s.add_argument(
        "--json",
        default=None,
        metavar="FILE",
        help="write the full reports (per-shift errors, settings) as JSON; '-' prints them",
    )
    s.add_argument(
        "--stereo-scale",
        type=float,
        default=1.0,
        help="scale the stereo pair (741x500 px) and its disparity by this (default 1)",
    )
    s.add_argument(
        "--pan-size", type=int, default=256, help="square pan frames of this size (default 256)"
    )
    models_dir(s)
    device(s)
    backend(s)
    s.set_defaults(func=cmd_eval_comfort)
    return p


# commands that stream frames: run as the process's command, they re-execute themselves once
# with glibc tuned for frame-sized buffers (transport/alloc.py's FRAME_TUNABLES)
STREAMING_COMMANDS = ("serve", "client", "bench")
# commands that are clients of a server (styles: `list --server`): only they import artem_client
CLIENT_COMMANDS = ("client", "bench", "styles")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None and args.command in STREAMING_COMMANDS:
        from .transport.alloc import apply_frame_tunables

        apply_frame_tunables()
    configure_logging(args.log_level, args.log_format)
    client_errors: tuple[type[Exception], ...] = ()  # a server refused a client command's request
    if args.command in CLIENT_COMMANDS:
        from artem_client import StylizeError

        client_errors = (StylizeError,)

    from .errors import ArtemError
    from .models.card import InvalidName
    from .models.importers import CheckpointError
    from .models.pull import PullError
    from .models.store import EntryExists

    try:
        args.func(args)
    except (
        UsageError,
        ArtemError,
        InvalidName,
        CheckpointError,
        EntryExists,
        PullError,
        FileNotFoundError,
        ValueError,
        TimeoutError,
        *client_errors,
    ) as e:
        print(f"artem {args.command}: error: {e}", file=sys.stderr)
        return 2
    except grpc.RpcError as e:  # a client command's call refused or the server unreachable
        print(f"artem {args.command}: error: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
