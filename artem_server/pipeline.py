"""Frame pixels -> model -> frame pixels: the one place for pre- and post-processing.

In: views of (H, W, bpp) uint8 in RGBA8/BGRA8/RGB8, sRGB or linear. The model sees
(N, 3, Hs, Ws) RGB in 0..255 sRGB, in its dtype and memory format (planar or channels-last),
with Hs, Ws padded by reflection to its size multiple (and a small minimum); views of one
size and format run as one batch (both eyes together). With a render scale below 1 the model
sees a bilinearly (antialiased) reduced image and its output is resized back (bilinear).
Out: the same size, format and colour space, alpha copied from the input untouched.

Two paths compute the same function. CPU, or CUDA without CuPy: torch ops, float32 until the
model. CUDA with CuPy: pinned staging, an async copy, and one fused kernel each way
(artem_kernels.convert) on torch's stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from artem_protocol.copy import copy_many

from . import pinned
from .frames import PixelFormat, View

MIN_MODEL_SIZE = 16  # the generator's 9x9 reflection pads need a few pixels at 1/4 resolution
MIN_RENDER_SCALE = 0.1


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 decoding, on values in 0..1."""
    return torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 encoding, on values in 0..1."""
    x = x.clamp(0, 1)
    return torch.where(
        x <= 0.0031308, x * 12.92, 1.055 * x.clamp_min(0.0031308) ** (1 / 2.4) - 0.055
    )


@dataclass
class StageTimes:
    convert_s: float = 0.0
    model_s: float = 0.0


@dataclass(frozen=True)
class ModelTraits:
    """What the pipeline must know of a model or backend runner: its input dtype, whether it
    wants channels-last memory, and what H and W must be multiples of."""

    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    size_multiple: int = 1

    @classmethod
    def of(cls, model: object) -> ModelTraits:
        return cls(
            getattr(model, "dtype", torch.float32),
            bool(getattr(model, "channels_last", False)),
            int(getattr(model, "size_multiple", 1)),
        )

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @property
    def minimum(self) -> int:
        return MIN_MODEL_SIZE if self.size_multiple > 1 else 1


def model_size(h: int, w: int, render_scale: float) -> tuple[int, int]:
    """The size a view is stylized at: `render_scale` of (h, w), rounded, at least 1 pixel."""
    if not MIN_RENDER_SCALE <= render_scale <= 1.0:
        raise ValueError(
            f"render_scale {render_scale}: expected a number in [{MIN_RENDER_SCALE}, 1]"
        )
    if render_scale == 1.0:
        return h, w
    return max(1, round(h * render_scale)), max(1, round(w * render_scale))


def padded_size(h: int, w: int, multiple: int, minimum: int = 1) -> tuple[int, int, bool]:
    """(Hs, Ws, replicate): H and W rounded up to `multiple` and at least `minimum`; replicate
    is True where a pad is too large to reflect (the image is smaller than its pad)."""
    th = max(-(-h // multiple) * multiple, -(-minimum // multiple) * multiple)
    tw = max(-(-w // multiple) * multiple, -(-minimum // multiple) * multiple)
    return th, tw, not (tw - w < w and th - h < h)


def pad_to_multiple(x: torch.Tensor, multiple: int, minimum: int = 1) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom and right so H and W are multiples of `multiple` and at
    least `minimum`: by reflection, which adds no edge the model would stylize, or by
    repeating the border where the image is too small to reflect."""
    h, w = x.shape[-2:]
    th, tw, replicate = padded_size(h, w, multiple, minimum)
    if (th, tw) == (h, w):
        return x
    return F.pad(x, (0, tw - w, 0, th - h), mode="replicate" if replicate else "reflect")


def to_model_input(src: torch.Tensor, fmt: PixelFormat, linear: bool) -> torch.Tensor:
    """(N, H, W, bpp) uint8 -> (N, 3, H, W) float32 RGB 0..255 sRGB, planar, on src's device.
    One pass over the pixels (the channel gather, layout change and conversion in each copy):
    on a CPU every extra pass costs about as much as the model's cheapest layer."""
    n, h, w, _ = src.shape
    x = torch.empty((n, 3, h, w), dtype=torch.float32, device=src.device)
    if fmt.rgb_order == (0, 1, 2):
        x.copy_(src[..., :3].permute(0, 3, 1, 2))
    else:
        for c, i in enumerate(fmt.rgb_order):
            x[:, c].copy_(src[..., i])
    if linear:
        x = linear_to_srgb(x / 255) * 255
    return x


def from_model_output(
    y: torch.Tensor, fmt: PixelFormat, linear: bool, src: torch.Tensor
) -> torch.Tensor:
    """(N, 3, H, W) float32 RGB ~0..255 sRGB -> (N, H, W, bpp) uint8 in `fmt` (linear-encoded
    when `linear`), alpha copied from `src` (N, H, W, bpp). The rounded values are whole
    numbers in 0..255, so each channel's copy into the uint8 frame converts them exactly."""
    y = y.clamp(0, 255)
    if linear:
        y = srgb_to_linear(y / 255) * 255
    y.round_()
    out = torch.empty_like(src)
    if fmt.rgb_order == (0, 1, 2):
        out[..., :3].copy_(y.permute(0, 2, 3, 1))
    else:
        for c, i in enumerate(fmt.rgb_order):
            out[..., i].copy_(y[:, c])
    if fmt.alpha_index is not None:
        out[..., fmt.alpha_index] = src[..., fmt.alpha_index]
    return out


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (N, C, H, W) float; antialiased when reducing, so render scales
    below 1/2 do not alias."""
    if tuple(x.shape[-2:]) == size:
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def _fused_kernels(device: torch.device) -> bool:
    if device.type != "cuda":
        return False
    try:
        from artem_kernels import convert
    except ImportError:
        return False
    return convert.available()


@dataclass
class Pipeline:
    """Runs one model (an nn.Module or a backend runner) over the views of one frame on
    `device`. `fused`: use the CuPy kernels on CUDA (None: when CuPy is there)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    fused: bool | None = None

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        if self.fused is None:
            self.fused = _fused_kernels(self.device)

    def run(
        self,
        model,
        views: list[View],
        strength: float = 1.0,
        times: StageTimes | None = None,
        render_scale: float = 1.0,
        outputs: list[np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        """Stylize the views of one frame; views of equal size and format share one batch.

        `outputs`: where to write each view's result, (H, W, bpp) uint8 arrays such as a reply's
        shared-memory slot; the device copies into them directly (a DMA when they are pinned,
        see pinned.py), and they are returned in place of new arrays."""
        times = times if times is not None else StageTimes()
        if outputs is not None:
            if len(outputs) != len(views) or any(
                o.shape != v.pixels.shape or o.dtype != np.uint8 or not o.flags.writeable
                for o, v in zip(outputs, views)
            ):
                raise ValueError("outputs: expected one writable uint8 array of each view's shape")
        results: list[np.ndarray | None] = [None] * len(views)
        groups: dict[tuple, list[int]] = {}
        for i, v in enumerate(views):
            groups.setdefault((v.height, v.width, v.format, v.linear), []).append(i)
        with torch.inference_mode():
            for idx in groups.values():
                dests = [outputs[i] for i in idx] if outputs is not None else None
                for i, out in zip(
                    idx,
                    self._run_group(
                        model, [views[i] for i in idx], strength, render_scale, times, dests
                    ),
                ):
                    results[i] = out
        return results  # type: ignore[return-value]

    def _stage(self, views: list[View]) -> torch.Tensor:
        """(N, H, W, bpp) uint8 on the device. Views in pinned memory with packed rows (a
        registered shared-memory slot) are copied to the device directly (DMA, no CPU copy);
        others take one host copy, which also drops row padding, into pinned memory (torch's
        caching host allocator), then an async upload."""
        if self.device.type != "cuda":
            return torch.from_numpy(np.stack([v.pixels for v in views]))
        v0 = views[0]
        if all(v.pixels.flags.c_contiguous and pinned.is_pinned(v.pixels) for v in views):
            dev = torch.empty((len(views), *v0.pixels.shape), dtype=torch.uint8, device=self.device)
            for i, v in enumerate(views):
                dev[i].copy_(pinned.host_tensor(v.pixels), non_blocking=True)
            return dev
        host = torch.empty(
            (len(views), v0.height, v0.width, v0.format.bpp), dtype=torch.uint8, pin_memory=True
        )
        staged = host.numpy()
        for i, v in enumerate(views):
            np.copyto(staged[i], v.pixels)
        return host.to(self.device, non_blocking=True)

    def _readback(self, out: torch.Tensor, dests: list[np.ndarray] | None) -> list[np.ndarray]:
        if (
            dests is not None
            and self.device.type == "cuda"
            and not all(pinned.is_pinned(d) for d in dests)
        ):
            # pageable (an inline reply's bytes): a DMA into pinned memory, then a host copy
            # split over threads, rather than a slower pageable transfer
            copy_many(list(zip(dests, self._readback(out, None))))
            return dests
        if dests is not None:  # straight into the caller's buffers
            for d, o in zip(dests, out):
                pinned.host_tensor(d).copy_(o, non_blocking=True)
            if self.device.type == "cuda":
                torch.cuda.current_stream(self.device).synchronize()
            return dests
        if self.device.type != "cuda":
            return [o.numpy() for o in out]
        host = torch.empty(out.shape, dtype=torch.uint8, pin_memory=True)
        host.copy_(out, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return [h.numpy() for h in host]

    def _run_group(
        self,
        model,
        views: list[View],
        strength: float,
        render_scale: float,
        times: StageTimes,
        dests: list[np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        t0 = time.perf_counter()
        traits = ModelTraits.of(model)
        fmt, linear = views[0].format, views[0].linear
        h, w = views[0].height, views[0].width
        hm, wm = model_size(h, w, render_scale)
        hs, ws, replicate = padded_size(hm, wm, traits.size_multiple, traits.minimum)
        src = self._stage(views)
        x = None  # the full-size float32 input, kept by the torch path for the strength blend
        if self.fused and (hm, wm) == (h, w):
            from artem_kernels import convert

            x_model = convert.pack(
                src, fmt.rgb_order, linear, traits.dtype, traits.channels_last, (hs, ws), replicate
            )
        else:
            x = to_model_input(src, fmt, linear)
            x_model = pad_to_multiple(resize(x, (hm, wm)), traits.size_multiple, traits.minimum)
            x_model = x_model.to(traits.dtype).contiguous(memory_format=traits.memory_format)
        cuda = self.device.type == "cuda"
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        t1 = time.perf_counter()
        y = model(x_model)
        t2 = time.perf_counter()
        if cuda:
            end.record()
        if self.fused:
            from artem_kernels import convert

            if not (y.is_contiguous() or y.is_contiguous(memory_format=torch.channels_last)):
                y = y.contiguous()  # the kernels read planar or channels-last, nothing else
            out = convert.unpack(y, src, (hm, wm), fmt.rgb_order, fmt.alpha_index, linear, strength)
        else:
            y = resize(y[..., :hm, :wm].float(), (h, w))
            if strength < 1.0:
                y = torch.lerp(x, y, strength)
            out = from_model_output(y, fmt, linear, src)
        results = self._readback(out, dests)
        t3 = time.perf_counter()
        model_s = start.elapsed_time(end) / 1e3 if cuda else t2 - t1
        times.model_s += model_s
        times.convert_s += (t3 - t0) - model_s
        return results
