"""`artem eval comfort`: how much a style makes the two eyes disagree and a moving view flicker.

In a headset both eyes must see the same stylized surface, and a still scene must not shimmer
while the head moves. Both are measured as warping errors (Chen et al., CVPR 2018, for stereo;
Lai et al., ECCV 2018, for time): one stylized view is warped onto the other with the known
motion and the two are compared on the pixels both see. The input's own warping error sits
beside each, since real cameras differ slightly too. Two more numbers keep the comparison
honest, because blurring or weakening a style also lowers warping errors:

- strength: mean absolute change the style makes to the frame (grey levels, 0..255);
- detail: how much of the input's fine detail (luminance minus its Gaussian blur, sigma 1)
  is still in the output, as the gain of the output's fine detail along the input's
  (1: all kept; a blur or a style that paints over edges gives less).

Data: scikit-image's stereo_motorcycle pair with its ground-truth disparity (Middlebury 2014)
and a synthetic camera pan over scikit-image's astronaut: frames cropped at exact integer shifts,
including shifts that are not multiples of a network's stride (4 for a generator, 8 for adain).
Errors are mean absolute differences in grey levels over RGB, `margin` pixels from the borders
excluded (reflection padding makes every net's border differ).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

Stylize = Callable[[np.ndarray], np.ndarray]  # (H, W, 3) uint8 RGB -> the same shape, stylized

# (dy, dx) of each pan step: 1-8 px sideways (every remainder of 4 and 8), then vertical and
# diagonal moves, as a head turns and nods.
PAN_SHIFTS: tuple[tuple[int, int], ...] = (
    (0, 1),
    (0, 2),
    (0, 3),
    (0, 4),
    (0, 5),
    (0, 6),
    (0, 7),
    (0, 8),
    (3, 0),
    (5, 0),
    (2, 3),
    (6, 5),
)


@dataclass
class WarpError:
    """A warping error of the stylized views and of the input's own views, grey levels."""

    stylized: float
    input: float

    @property
    def excess(self) -> float:
        """What the style adds to the input's own disagreement: what a headset wearer feels."""
        return self.stylized - self.input


@dataclass
class ComfortReport:
    stereo: WarpError
    pan: WarpError
    pan_by_shift: dict[str, float]  # "dy,dx" -> the stylized pan's error at that shift
    strength: float
    detail: float
    stereo_pixels: int  # pixels compared (non-occluded, inside the margin)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("stereo", "pan"):
            err: WarpError = getattr(self, key)
            d[key]["excess"] = round(err.excess, 4)
            d[key]["ratio"] = round(err.stylized / err.input, 4) if err.input > 0 else None
        return d


def _shift_rows(img: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """`img` (a right view) sampled at x - disparity along each row (linear), i.e. warped onto
    the left view; float32 (H, W, C)."""
    h, w = disparity.shape
    x = np.arange(w, dtype=np.float32)[None, :] - np.nan_to_num(disparity, posinf=0.0)
    x0 = np.clip(np.floor(x), 0, w - 1).astype(np.int64)
    x1 = np.clip(x0 + 1, 0, w - 1)
    t = np.clip(x - x0, 0.0, 1.0)[..., None]
    rows = np.arange(h)[:, None]
    src = img.astype(np.float32)
    return src[rows, x0] * (1 - t) + src[rows, x1] * t


def visible_mask(disparity: np.ndarray, margin: int) -> np.ndarray:
    """Left-view pixels that the right view also sees: a known disparity, landing inside the
    right image, and not hidden behind a nearer pixel (one further right in the left view
    that lands further left in the right view), `margin` px from every border."""
    h, w = disparity.shape
    known = np.isfinite(disparity) & (disparity >= 0)
    u = np.where(known, np.arange(w)[None, :] - np.where(known, disparity, 0), np.inf)
    # the smallest landing position among the pixels to the right of each pixel
    right_min = np.minimum.accumulate(u[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([right_min[:, 1:], np.full((h, 1), np.inf)], axis=1)
    mask = known & (u >= margin) & (u <= w - 1 - margin) & (right_min >= u - 0.5)
    inner = np.zeros_like(mask)
    inner[margin : h - margin, margin : w - margin] = True
    return mask & inner


def stereo_error(
    left: np.ndarray, right: np.ndarray, disparity: np.ndarray, mask: np.ndarray
) -> float:
    """Mean |left - right warped by the disparity| over `mask`, grey levels."""
    diff = np.abs(left.astype(np.float32) - _shift_rows(right, disparity))
    return float(diff[mask].mean())


def shift_error(a: np.ndarray, b: np.ndarray, dy: int, dx: int, margin: int) -> float:
    """`b` is the view of `a` moved by (dy, dx) (b[i, j] shows what a[i + dy, j + dx] shows):
    mean |b - a moved| over their overlap, `margin` px from the borders, grey levels."""
    h, w = a.shape[:2]
    a_part = a[dy + margin : h - margin, dx + margin : w - margin].astype(np.float32)
    b_part = b[margin : h - margin - dy, margin : w - margin - dx].astype(np.float32)
    return float(np.abs(a_part - b_part).mean())


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def fine_detail(rgb: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """Luminance minus its Gaussian blur: the finest scale of the picture."""
    y = _luma(rgb)
    return y - ndimage.gaussian_filter(y, sigma)


def detail_gain(inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray], margin: int) -> float:
    """How much of the inputs' fine detail the outputs carry: the least-squares gain of the
    outputs' fine detail along the inputs' (texture the style adds elsewhere does not count)."""
    num = den = 0.0
    for x, y in zip(inputs, outputs):
        hx = fine_detail(x)[margin:-margin, margin:-margin]
        hy = fine_detail(y)[margin:-margin, margin:-margin]
        num += float((hx * hy).sum())
        den += float((hx * hx).sum())
    return num / den


def stereo_data(scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-image's motorcycle pair and its left-view disparity, optionally scaled down."""
    from skimage import data
    from skimage.transform import rescale

    left, right, disparity = data.stereo_motorcycle()
    if scale == 1.0:
        return left, right, disparity.astype(np.float32)

    def resize(im: np.ndarray) -> np.ndarray:
        return (
            (rescale(im, scale, channel_axis=-1, anti_aliasing=True) * 255).round().astype(np.uint8)
        )

    d = ndimage.zoom(np.where(np.isfinite(disparity), disparity, -1.0), scale, order=0) * scale
    return resize(left), resize(right), np.where(d >= 0, d, np.inf).astype(np.float32)


def pan_frames(
    size: int = 256, shifts: Sequence[tuple[int, int]] = PAN_SHIFTS
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The pan's first frame and one frame per shift, cropped from scikit-image's astronaut."""
    from skimage import data

    src = data.astronaut()
    y0, x0 = 96, 160  # the face, the suit's lettering, the flag: edges at every scale
    limit = min(src.shape[0] - y0, src.shape[1] - x0) - max(max(s) for s in shifts)
    if not 16 <= size <= limit:
        raise ValueError(f"pan size {size}: expected 16..{limit} px")

    def crop(dy: int, dx: int) -> np.ndarray:
        return np.ascontiguousarray(src[y0 + dy : y0 + dy + size, x0 + dx : x0 + dx + size])

    return crop(0, 0), [crop(dy, dx) for dy, dx in shifts]


def measure_comfort(
    stylize: Stylize,
    *,
    stereo_scale: float = 1.0,
    pan_size: int = 256,
    shifts: Sequence[tuple[int, int]] = PAN_SHIFTS,
    margin: int = 16,
) -> ComfortReport:
    """Stereo and pan warping errors of `stylize`, the input's own beside each, plus strength
    and detail (see the module's docstring). Deterministic for a deterministic `stylize`."""
    left, right, disparity = stereo_data(stereo_scale)
    mask = visible_mask(disparity, margin)
    s_left, s_right = stylize(left), stylize(right)
    stereo = WarpError(
        stereo_error(s_left, s_right, disparity, mask), stereo_error(left, right, disparity, mask)
    )

    base, moved = pan_frames(pan_size, shifts)
    s_base = stylize(base)
    by_shift: dict[str, float] = {}
    own = []
    for (dy, dx), frame in zip(shifts, moved):
        by_shift[f"{dy},{dx}"] = round(shift_error(s_base, stylize(frame), dy, dx, margin), 4)
        own.append(shift_error(base, frame, dy, dx, margin))
    pan = WarpError(float(np.mean(list(by_shift.values()))), float(np.mean(own)))

    inputs, outputs = [left, right, base], [s_left, s_right, s_base]
    strength = float(
        np.mean([np.abs(o.astype(np.float32) - i).mean() for i, o in zip(inputs, outputs)])
    )
    return ComfortReport(
        stereo=stereo,
        pan=pan,
        pan_by_shift=by_shift,
        strength=round(strength, 4),
        detail=round(detail_gain(inputs, outputs, margin), 4),
        stereo_pixels=int(mask.sum()),
        settings={
            "stereo_scale": stereo_scale,
            "pan_size": pan_size,
            "margin": margin,
            "stereo_size": list(left.shape[:2]),
            "shifts": [list(s) for s in shifts],
        },
    )
