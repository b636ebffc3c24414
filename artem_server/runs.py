"""How a session's frames run: backend, precision and render scale, chosen per server and per
session, and the runners that carry them out (built once per style and kept).

The service hands this module plain values (no protobuf); it validates them, fills in the
server's defaults, and gives the transport a pipeline bound to the session's choice.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from .backends import (BackendUnavailable, RunnerCache, available_backends, default_choice,
                       default_precision, validate_choice)
from .errors import InvalidArgument, Unavailable
from .frames import View
from .pipeline import MIN_RENDER_SCALE, ModelTraits, Pipeline, StageTimes, model_size, padded_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunChoice:
    backend: str
    precision: str
    render_scale: float = 1.0


@dataclass(frozen=True)
class RunOptions:
    """Server-wide settings: the default backend/precision (None: by device), the frame sizes
    (N views, H, W) to compile for at style load, the optimized backend's mode."""

    backend: str | None = None
    precision: str | None = None
    warm_sizes: Sequence[tuple[int, int, int]] = ()
    optimize_mode: str | None = None
    cache_capacity: int = 8


class BoundPipeline:
    """The pipeline with a session's choice applied: what transport.views.process calls."""

    def __init__(self, runs: "Runs", choice: RunChoice) -> None:
        self.runs, self.choice = runs, choice

    def run(self, model: torch.nn.Module, views: list[View], strength: float = 1.0,
            times: StageTimes | None = None, outputs: list[np.ndarray] | None = None) -> list[np.ndarray]:
        runner = self.runs.runner(model, self.choice)
        return self.runs.pipeline.run(runner, views, strength, times, render_scale=self.choice.render_scale,
                                      outputs=outputs)


class Runs:
    def __init__(self, pipeline: Pipeline, options: RunOptions = RunOptions()) -> None:
        self.pipeline = pipeline
        self.device = pipeline.device
        self.options = options
        self.available = available_backends(self.device)
        backend, precision = default_choice(self.device)
        self.default = RunChoice(options.backend or backend,
                                 options.precision or (precision if not options.backend
                                                       else default_precision(options.backend, self.device)))
        validate_choice(self.default.backend, self.default.precision, self.device)
        backend_options = {"torch-optimized": {"mode": options.optimize_mode}} if options.optimize_mode else {}
        self.cache = RunnerCache(self.device, options.cache_capacity, backend_options, self._warm_shapes)

    def _warm_shapes(self, runner) -> list[tuple[int, int, int]]:
        return [self.frame_shape(n, h, w, runner) for n, h, w in self.options.warm_sizes]

    def choose(self, backend: str = "", precision: str = "", render_scale: float | None = None) -> RunChoice:
        """A session's choice, defaults filled in; InvalidArgument names what is offered."""
        backend = backend or self.default.backend
        if not precision:
            precision = self.default.precision if backend == self.default.backend else \
                default_precision(backend, self.device)
        try:
            validate_choice(backend, precision, self.device)
        except ValueError as e:
            raise InvalidArgument(f"config: {e}") from None
        scale = 1.0 if render_scale is None else float(render_scale)
        if not (math.isfinite(scale) and MIN_RENDER_SCALE <= scale <= 1.0):
            raise InvalidArgument(f"config.render_scale = {render_scale}: expected a number in "
                                  f"[{MIN_RENDER_SCALE}, 1]")
        return RunChoice(backend, precision, scale)

    def runner(self, model: torch.nn.Module, choice: RunChoice):
        """The runner for (model, backend, precision), built on first use. Model thread only."""
        try:
            return self.cache.get(model, choice.backend, choice.precision)
        except BackendUnavailable as e:
            raise Unavailable(f"backend {choice.backend} {choice.precision}: {e}") from None

    def bind(self, choice: RunChoice | None) -> BoundPipeline:
        return BoundPipeline(self, choice or self.default)

    def prepare(self, executor: concurrent.futures.Executor, model: torch.nn.Module,
                choice: RunChoice | None) -> None:
        """Build (and compile, for the warm sizes) a session's runner on the model thread now,
        so its first frame does not wait for it; a failure is reported by that frame."""
        def build() -> None:
            try:
                self.runner(model, choice or self.default)
            except Exception as e:  # the frame that needs it reports the error to its client
                log.warning("preparing %s for a session failed: %s", choice, e)
        try:
            executor.submit(build)
        except RuntimeError:  # shutting down
            pass

    def warm_styles(self, executor: concurrent.futures.Executor, styles: Sequence) -> None:
        """With warm sizes set, build and compile every style's default runner now (at server
        start, on the model thread, in the background), so no first frame waits for it."""
        if not self.options.warm_sizes:
            return
        for style in styles:
            if style.card.kind != "identity":
                self.prepare(executor, style.model, None)

    def frame_shape(self, n: int, h: int, w: int, runner, render_scale: float = 1.0) -> tuple[int, int, int]:
        """The model-input (N, Hs, Ws) a frame of n views of h x w becomes for `runner`."""
        traits = ModelTraits.of(runner)
        hm, wm = model_size(h, w, render_scale)
        hs, ws, _ = padded_size(hm, wm, traits.size_multiple, traits.minimum)
        return n, hs, ws
