"""One frame's turn on the model thread: its views read from their carriers, the pipeline run
over them, the results written where the reply wants them.

The transport (artem_server.transport.carriers) says where pixels are and moves them; the
pipeline (artem_server.pipeline) turns pixels into stylized pixels; this step joins the two and
picks the path with the fewest copies: the pipeline writes into the destinations itself when it
may (every view has one, and a region's pages are locked for the device), else the results are
copied there after it (checking the client's region again: the model took its time).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ArtemError
from .pipeline import StageTimes
from .transport.carriers import FramePixels

if TYPE_CHECKING:
    from .runs import BoundPipeline

log = logging.getLogger(__name__)


def run_frame(
    pipeline: BoundPipeline,
    model: Any,
    identity: bool,
    pixels: FramePixels,
    strength: float,
    times: StageTimes,
) -> tuple[list[np.ndarray | None], float]:
    """Read the frame's views, run `pipeline` (the session's backend and precision applied; `model`
    an nn.Module or a backend's runner) on them (`identity`: nothing runs, the pixels go
    straight to their destinations), write the results. Returns the results that travel beside
    the reply (None for those written) and the seconds spent moving pixels after the model.

    Views of the region live only inside this call, so the region may unmap as soon as it
    returns, even when it raised (the exception leaves with no frames attached)."""
    try:
        return _run(pipeline, model, identity, pixels, strength, times)
    except Exception as e:
        if not isinstance(e, ArtemError):
            log.exception("frame failed on the model thread")
        e.__cause__ = e.__context__ = None
        raise e.with_traceback(None)  # noqa: B904 (the chain is dropped on purpose: no frames kept)


def _run(
    pipeline: BoundPipeline,
    model: Any,
    identity: bool,
    pixels: FramePixels,
    strength: float,
    times: StageTimes,
) -> tuple[list[np.ndarray | None], float]:
    views = pixels.read()  # checks the region's file right before reading it
    out = pixels.destinations()
    if not identity and all(dst is not None for dst in out) and pixels.writable_by_device():
        # every view has a destination the device may write while the model runs: the
        # pipeline writes there itself, no second copy
        pipeline.run(model, views, strength, times, outputs=out)
        return [None] * len(out), 0.0
    # The identity style computes nothing: its pixels go straight to where the reply wants them
    # (one copy, into a reply slot or the reply's bytes), which is the transport's own floor.
    results = [v.pixels for v in views] if identity else pipeline.run(model, views, strength, times)
    t0 = time.perf_counter()
    beside = pixels.write(results)
    return beside, time.perf_counter() - t0
