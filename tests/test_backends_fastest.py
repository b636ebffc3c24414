"""`artem serve --backend fastest` on a CPU: each available variant is timed once on the probe,
the fastest becomes the server's default, and the log names every candidate's time."""

from __future__ import annotations

import logging

import torch

from artem_server.backends import available_backends
from artem_server.backends.fastest import time_variants
from artem_server.pipeline import Pipeline
from artem_server.runs import RunOptions, Runs


def test_fastest_times_the_cpu_variants_and_makes_the_quickest_the_default(caplog):
    cpu = torch.device("cpu")
    with caplog.at_level(logging.INFO, logger="artem_server.backends.fastest"):
        runs = Runs(Pipeline(cpu), RunOptions(backend="fastest"))
    line = next(r.getMessage() for r in caplog.records if "fastest CPU variant" in r.getMessage())
    assert line.startswith(f"fastest CPU variant: {runs.default.backend} {runs.default.precision} ")
    timed = [b for b in ("torch-eager", "onnxruntime") if b in available_backends(cpu)]
    assert all(b in line for b in timed)
    # The choice is a working default: sessions that name nothing get it.
    assert runs.choose() == runs.default


def test_a_variant_that_cannot_run_is_left_out():
    times = time_variants(
        torch.device("cpu"),
        size=32,
        repeats=1,
        candidates=(("torch-eager", "fp32"), ("onnxruntime", "fp16")),
    )
    assert list(times) == [("torch-eager", "fp32")] and times[("torch-eager", "fp32")] > 0
