"""The pipeline's CPU path: the same answer as the per-view code it replaced, and render scale.

`reference_run` is the pipeline as it was before batching and backends (commit 7e1f468):
any change in what a CPU server returns shows up here as a difference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import random_generator

from artem_server.frames import PixelFormat, View
from artem_server.kinds.identity import Identity
from artem_server.pipeline import (
    Pipeline,
    StageTimes,
    linear_to_srgb,
    model_size,
    pad_to_multiple,
    srgb_to_linear,
)


def reference_run(model: torch.nn.Module, views: list[View], strength: float) -> list[np.ndarray]:
    outs = []
    with torch.inference_mode():
        for v in views:
            x = (
                torch.from_numpy(np.ascontiguousarray(v.pixels[..., list(v.format.rgb_order)]))
                .permute(2, 0, 1)
                .float()
            )
            if v.linear:
                x = linear_to_srgb(x / 255) * 255
            m = getattr(model, "size_multiple", 1)
            y = model(pad_to_multiple(x[None], m, 16 if m > 1 else 1))[0, :, : v.height, : v.width]
            if strength < 1.0:
                y = torch.lerp(x, y, strength)
            y = y.clamp(0, 255)
            if v.linear:
                y = srgb_to_linear(y / 255) * 255
            out = np.empty((v.height, v.width, v.format.bpp), np.uint8)
            out[..., list(v.format.rgb_order)] = y.round().to(torch.uint8).permute(1, 2, 0).numpy()
            if v.format.alpha_index is not None:
                out[..., v.format.alpha_index] = v.pixels[..., v.format.alpha_index]
            outs.append(out)
    return outs


def make_views(
    photo: np.ndarray, fmt: PixelFormat, linear: bool, h: int, w: int, stride_pad: int = 0
) -> list[View]:
    """Two eyes, a few pixels apart, as strided views of a padded buffer like an engine's."""
    views = []
    for dx in (0, 5):
        px = np.zeros((h, w + stride_pad, fmt.bpp), np.uint8)
        px[:, :w, list(fmt.rgb_order)] = photo[:h, dx : dx + w]
        if fmt.alpha_index is not None:
            px[:, :w, fmt.alpha_index] = np.arange(w, dtype=np.uint8)[None, :] * 3
        views.append(View(px[:, :w], fmt, linear))
    return views


@pytest.mark.parametrize(
    "fmt,linear,strength,stride_pad",
    [
        (PixelFormat.RGBA8, False, 1.0, 0),
        (PixelFormat.BGRA8, True, 0.6, 3),
        (PixelFormat.RGB8, False, 0.25, 1),
    ],
)
def test_cpu_path_is_unchanged(photo, fmt, linear, strength, stride_pad):
    net = random_generator(5)
    views = make_views(photo, fmt, linear, 50, 70, stride_pad)
    ours = Pipeline().run(net, views, strength)
    for a, b in zip(ours, reference_run(net, views, strength)):
        assert np.array_equal(a, b)


def test_identity_returns_the_input(photo):
    views = make_views(photo, PixelFormat.BGRA8, True, 31, 45)
    for out, v in zip(Pipeline().run(Identity(), views), views):
        assert np.array_equal(out, v.pixels)


def test_render_scale_runs_the_model_smaller_and_returns_full_size(photo):
    """At scale 1/2 the model sees a half-size image; the result is the model's output
    resized back, and at strength 0 the input itself."""
    seen: list[tuple[int, ...]] = []

    class Spy(torch.nn.Module):
        size_multiple = 4

        def forward(self, x):
            seen.append(tuple(x.shape))
            return x

    views = make_views(photo, PixelFormat.RGBA8, False, 64, 96)
    outs = Pipeline().run(Spy(), views, render_scale=0.5)
    assert seen == [(2, 3, 32, 48)]
    for out, v in zip(outs, views):
        assert out.shape == v.pixels.shape
        assert np.array_equal(out[..., 3], v.pixels[..., 3])
        # A smooth photograph survives halving and doubling within a few levels on average.
        assert np.abs(out[..., :3].astype(int) - v.pixels[..., :3]).mean() < 6
    net = random_generator(3)
    for out, v in zip(Pipeline().run(net, views, strength=0.0, render_scale=0.5), views):
        assert np.array_equal(out, v.pixels)


def test_render_scale_matches_explicit_resizing(photo):
    net = random_generator(4)
    views = make_views(photo, PixelFormat.RGB8, False, 60, 90)
    ours = Pipeline().run(net, views[:1], render_scale=0.4)[0]
    x = torch.from_numpy(views[0].pixels.copy()).permute(2, 0, 1)[None].float()
    hm, wm = model_size(60, 90, 0.4)
    assert (hm, wm) == (24, 36)
    small = F.interpolate(x, size=(hm, wm), mode="bilinear", align_corners=False, antialias=True)
    with torch.inference_mode():
        y = net(pad_to_multiple(small, 4, 16))[..., :hm, :wm]
    y = F.interpolate(y, size=(60, 90), mode="bilinear", align_corners=False)
    ref = y.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("scale", [0.05, 1.5, float("nan")])
def test_render_scale_out_of_range_is_refused(photo, scale):
    with pytest.raises(ValueError, match="render_scale"):
        Pipeline().run(
            Identity(), make_views(photo, PixelFormat.RGB8, False, 16, 16), render_scale=scale
        )


def test_stage_times_add_up(photo):
    times = StageTimes()
    Pipeline().run(
        random_generator(1), make_views(photo, PixelFormat.RGBA8, False, 40, 40), times=times
    )
    assert times.model_s > 0 and times.convert_s > 0


def test_outputs_are_written_in_place(photo):
    """A caller's buffers (a reply's shared-memory slot) receive the results directly."""
    net = random_generator(2)
    views = make_views(photo, PixelFormat.BGRA8, False, 40, 52)
    dests = [np.full(v.pixels.shape, 3, np.uint8) for v in views]
    returned = Pipeline().run(net, views, outputs=dests)
    assert all(r is d for r, d in zip(returned, dests))
    for d, ref in zip(dests, Pipeline().run(net, views)):
        assert np.array_equal(d, ref)


def test_outputs_must_fit_the_views(photo):
    views = make_views(photo, PixelFormat.RGBA8, False, 16, 16)
    read_only = np.zeros((16, 16, 4), np.uint8)
    read_only.flags.writeable = False
    for bad in (
        [np.zeros((16, 16, 4), np.uint8)],
        [np.zeros((16, 16, 3), np.uint8)] * 2,
        [read_only] * 2,
    ):
        with pytest.raises(ValueError, match="outputs"):
            Pipeline().run(Identity(), views, outputs=bad)
