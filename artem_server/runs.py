"""How a session's frames run: backend, precision and render scale, chosen per server and per
session, and the runners that carry them out (built once per style and kept).

The service hands this module plain values (no protobuf); it validates them, fills in the
server's defaults, and gives the transport a pipeline bound to the session's choice.

Building a runner (an ONNX export, a compile) takes seconds; it happens on build threads of
their own, never on the model thread where frames run, so no stream's frames wait behind
another's build. A build is shared by every stream that needs the same runner, and a stream
may have one build of its own under way at a time (`builds_per_stream`). Exports and compiles
still run one at a time (torch's tracing state is process-wide: backends' `serial_build`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .backends import (
    BackendUnavailable,
    RunnerCache,
    available_backends,
    default_choice,
    default_precision,
    validate_choice,
)
from .backends.fastest import fastest_choice
from .errors import ArtemError, InvalidArgument, ResourceExhausted, Unavailable
from .frames import View
from .kinds import Kind
from .pipeline import MIN_RENDER_SCALE, ModelTraits, Pipeline, StageTimes, model_size, padded_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunChoice:
    backend: str
    precision: str
    render_scale: float = 1.0


FASTEST = "fastest"  # RunOptions.backend: time the CPU variants at start, keep the fastest


@dataclass(frozen=True)
class RunOptions:
    """Server-wide settings: the default backend/precision (None: by device; "fastest":
    measured at start on a CPU, backends/fastest.py), the frame sizes
    (N views, H, W) to compile for at style load, the optimized backend's mode."""

    backend: str | None = None
    precision: str | None = None
    warm_sizes: Sequence[tuple[int, int, int]] = ()
    optimize_mode: str | None = None
    cache_capacity: int = 8
    builds_per_stream: int = 1  # runner builds a stream's configs may have under way at once
    build_threads: int = 8  # builds under way at once (the server makes it its max_streams)


@dataclass
class Build:
    """A runner being built on the build thread, for every stream that needs it."""

    label: str  # "gen-a on onnxruntime fp32": what the status messages name
    future: concurrent.futures.Future
    started: float = field(default_factory=time.monotonic)
    owners: set = field(default_factory=set)  # ids of the streams whose config started it

    def seconds(self) -> float:
        return time.monotonic() - self.started


def describe(choice: RunChoice) -> str:
    return f"{choice.backend} {choice.precision}"


class BoundPipeline:
    """The pipeline with a session's choice applied: what frame_step.run_frame runs.
    With `runner` (already built) it never builds; without, it builds on first use (the CLI)."""

    def __init__(self, runs: Runs, choice: RunChoice, runner=None) -> None:
        self.runs, self.choice, self.built = runs, choice, runner

    def run(
        self,
        model: torch.nn.Module,
        views: list[View],
        strength: float = 1.0,
        times: StageTimes | None = None,
        outputs: list[np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        runner = self.built if self.built is not None else self.runs.runner(model, self.choice)
        return self.runs.pipeline.run(
            runner, views, strength, times, render_scale=self.choice.render_scale, outputs=outputs
        )


class Runs:
    def __init__(self, pipeline: Pipeline, options: RunOptions = RunOptions()) -> None:
        self.pipeline = pipeline
        self.device = pipeline.device
        self.options = options
        self.available = available_backends(self.device)
        backend, precision = default_choice(self.device)
        # measured: the variant to run a style on when its entry ships no graph (None: default)
        self.ready: RunChoice | None = None
        if options.backend == FASTEST:  # measured once, now; on CUDA the default is the fastest
            if self.device.type == "cpu":
                pick = fastest_choice(self.device)
                backend, precision = pick.best
                self.ready = RunChoice(*pick.ready) if pick.ready else None
            options = replace(options, backend=None, precision=None)
            self._server_chose = self.device.type == "cpu"  # on CUDA: as if none was named
        else:
            self._server_chose = options.backend is not None
        # The server's default (a kind that cannot run it gets its own default: `default_for`)
        self.default = RunChoice(
            options.backend or backend,
            options.precision
            or (
                precision
                if not options.backend
                else default_precision(options.backend, self.device)
            ),
        )
        validate_choice(self.default.backend, self.default.precision, self.device)
        backend_options = (
            {"torch-optimized": {"mode": options.optimize_mode}} if options.optimize_mode else {}
        )
        self.cache = RunnerCache(
            self.device, options.cache_capacity, backend_options, self._warm_shapes
        )
        # A thread per stream slot: with one build per stream, no build waits behind another
        # stream's (a cheap one behind an export of seconds); warm-ups share them.
        self.build_executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, options.build_threads), thread_name_prefix="artem-build"
        )
        self._builds: dict[tuple, Build] = {}  # under way or failed, by (model, backend, precision)
        self._lock = threading.Lock()

    def _warm_shapes(self, runner) -> list[tuple[int, int, int]]:
        return [self.frame_shape(n, h, w, runner) for n, h, w in self.options.warm_sizes]

    def default_for(self, kind: Kind | None, module: torch.nn.Module | None = None) -> RunChoice:
        """The default for a style of `kind`: the server's when it named or measured one that
        the kind runs, the kind's own for this device otherwise. A measured default that would
        export `module` first (no current graph shipped with its entry) gives way to the
        fastest variant that needs no export, when the kind runs that."""
        if kind is None:
            return self.default
        if self._server_chose and kind.supports(self.default.backend, self.default.precision):
            r = self.ready
            if (
                r is not None
                and module is not None
                and kind.supports(r.backend, r.precision)
                and kind.shipped_graph(module) is None
            ):
                return r
            return self.default
        return RunChoice(*kind.default_run(self.device.type == "cuda"))

    def choose(
        self,
        backend: str = "",
        precision: str = "",
        render_scale: float | None = None,
        kind: Kind | None = None,
        module: torch.nn.Module | None = None,
    ) -> RunChoice:
        """A session's choice for a style of `kind` (its module: `module`), defaults filled in;
        InvalidArgument names what is offered."""
        default = self.default_for(kind, module)
        backend = backend or default.backend
        if not precision:
            precision = (
                default.precision
                if backend == default.backend
                else default_precision(backend, self.device)
            )
        try:
            validate_choice(backend, precision, self.device)
        except ValueError as e:
            raise InvalidArgument(f"config: {e}") from None
        if kind is not None and not kind.supports(backend, precision):
            raise InvalidArgument(
                f"config: backend {backend!r} precision {precision!r}: {kind.name} styles run on "
                f"{kind.describe_runs()}"
            )
        scale = 1.0 if render_scale is None else float(render_scale)
        if not (math.isfinite(scale) and MIN_RENDER_SCALE <= scale <= 1.0):
            raise InvalidArgument(
                f"config.render_scale = {render_scale}: expected a number in "
                f"[{MIN_RENDER_SCALE}, 1]"
            )
        return RunChoice(backend, precision, scale)

    def runner(self, model: torch.nn.Module, choice: RunChoice):
        """The runner for (model, backend, precision), built on first use. Model thread only."""
        try:
            return self.cache.get(model, choice.backend, choice.precision)
        except BackendUnavailable as e:
            raise Unavailable(f"backend {choice.backend} {choice.precision}: {e}") from None

    def bind(self, choice: RunChoice | None, runner=None) -> BoundPipeline:
        return BoundPipeline(self, choice or self.default, runner)

    def request(
        self, model: torch.nn.Module, choice: RunChoice | None, label: str, owner: object = None
    ):
        """The built runner for (model, choice), or the Build that makes it: one under way for
        any stream, else a new one named `label` ("gen-a on onnxruntime fp32"). `owner` (a
        stream) counts a new build against its quota: ResourceExhausted past `builds_per_stream`.
        A failed build is retried on the next request with an owner (a new config), and
        reported to frames until then."""
        choice = choice or self.default
        runner = self.cache.peek(model, choice.backend, choice.precision)
        if runner is not None:
            return runner
        key = (model, choice.backend, choice.precision)
        with self._lock:
            build = self._builds.get(key)
            failed = (
                build is not None and build.future.done() and build.future.exception() is not None
            )
            if build is not None and not (failed and owner is not None):
                return build
            if owner is not None:
                mine = [
                    b
                    for b in self._builds.values()
                    if id(owner) in b.owners and not b.future.done()
                ]
                limit = self.options.builds_per_stream
                if len(mine) >= limit:
                    raise ResourceExhausted(
                        f"this stream already has {len(mine)} runner build under way "
                        f"({mine[0].label}, "
                        f"{mine[0].seconds():.0f} s so far), its limit (builds_per_stream = "
                        f"{limit}); send "
                        "the config again once its frames are stylized"
                    )
            # _build forgets the Build under this lock: it cannot do so before it is recorded
            try:
                build = Build(label, self.build_executor.submit(self._build, key, model, choice))
            except RuntimeError:  # the executor is shut down
                raise Unavailable("the server is shutting down; reconnect") from None
            if owner is not None:
                build.owners.add(id(owner))
            self._builds[key] = build
            return build

    def _build(self, key: tuple, model: torch.nn.Module, choice: RunChoice):
        """On the build thread: build, keep in the cache, forget the Build (a failed one stays
        so frames can report its error)."""
        try:
            runner = self.runner(model, choice)
        except Exception as e:
            if not isinstance(e, ArtemError):
                log.warning("building %s %s failed: %s", choice.backend, choice.precision, e)
            raise
        with self._lock:
            self._builds.pop(key, None)
        return runner

    def prepare(
        self,
        model: torch.nn.Module,
        choice: RunChoice | None,
        label: str = "",
        owner: object = None,
    ) -> None:
        """Build a session's runner now (on the build thread), so its first frame does not wait
        for it; ResourceExhausted when `owner` already has its builds under way."""
        self.request(model, choice, f"{label} on {describe(choice or self.default)}", owner)

    def warm_styles(self, styles: Sequence) -> list[concurrent.futures.Future]:
        """With warm sizes set, build and compile the styles' default runners now (at server
        start, on the build threads, in the background), so no first frame waits for them;
        returns the builds under way."""
        if not self.options.warm_sizes:
            return []
        # The models directory's styles first (the user's own), then the built-in ones, and no
        # more than the runner cache keeps: a runner warmed only to be evicted helps no session.
        chosen = sorted(
            (s for s in styles if s.kind.runs_model), key=lambda s: s.origin == "builtin"
        )
        got = []
        for style in chosen[: self.options.cache_capacity]:
            choice = self.default_for(style.kind, style.model)
            got.append(self.request(style.model, choice, f"{style.id} on {describe(choice)}"))
        return [b.future for b in got if isinstance(b, Build)]

    def close(self) -> None:
        self.build_executor.shutdown(wait=False, cancel_futures=True)

    def frame_shape(
        self, n: int, h: int, w: int, runner, render_scale: float = 1.0
    ) -> tuple[int, int, int]:
        """The model-input (N, Hs, Ws) a frame of n views of h x w becomes for `runner`."""
        traits = ModelTraits.of(runner)
        hm, wm = model_size(h, w, render_scale)
        hs, ws, _ = padded_size(hm, wm, traits.size_multiple, traits.minimum)
        return n, hs, ws
