"""The perceptual loss of Johnson et al. (2016), as pytorch/examples `fast_neural_style` trains
it (neural_style.py's train loop): content MSE on one VGG tap, Gram-matrix MSE
summed over the style taps, each scaled by its weight. No total-variation term."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .vgg import IMAGENET_MEAN, IMAGENET_STD, VGG16Features


def gram(f: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) features -> (N, C, C) fp32 Gram matrices F Fᵀ / (C·H·W). Summed in fp32
    whatever the autocast: under fp16 a sum over H·W products passes 65504 (inf, and every step
    skipped by the loss scaler)."""
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w).float()
    with torch.autocast(f.device.type, enabled=False):
        return f @ f.transpose(1, 2) / (c * h * w)


def vgg_input(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB 0..255 -> 0..1, ImageNet-normalised (a new tensor; `x` is untouched)."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


class PerceptualLoss(nn.Module):
    """Weighted content and style losses of a generator output against its input and one style.

    The style image's Gram matrices are computed once here, not per step."""

    def __init__(
        self,
        vgg: VGG16Features,
        style: torch.Tensor,
        content_layer: str,
        style_layers: Sequence[str],
        content_weight: float,
        style_weight: float,
    ) -> None:
        """`style`: (1, 3, H, W) RGB 0..255 on the loss net's device."""
        super().__init__()
        self.vgg = vgg
        self.content_layer = content_layer
        self.style_layers = list(style_layers)
        self.content_weight = content_weight
        self.style_weight = style_weight
        with torch.no_grad():
            feats = vgg(vgg_input(style), self.style_layers)
        self.style_grams = {k: gram(v) for k, v in feats.items()}
        self.taps = list(dict.fromkeys([*self.style_layers, content_layer]))

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """y: generator output, x: its input, both (N, 3, H, W) RGB 0..255.
        Returns (weighted content loss, weighted style loss), scalars."""
        fy = self.vgg(vgg_input(y), self.taps)
        with torch.no_grad():
            fx = self.vgg(vgg_input(x), [self.content_layer])[self.content_layer]
        content = F.mse_loss(fy[self.content_layer], fx)
        style = sum(
            F.mse_loss(gram(fy[k]), self.style_grams[k].expand(y.shape[0], -1, -1))
            for k in self.style_layers
        )
        return self.content_weight * content, self.style_weight * style


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical neighbour differences of (N, C, H, W) images."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


class DistillLoss(nn.Module):
    """The generator's output against a teacher's output for the same crop (`loss=distill`).

    Pixel L1 carries the teacher's palette and shapes; L1 on the image gradients keeps its
    strokes and edges crisp, which pixel L1 alone lets a small generator blur (the mean of
    several plausible strokes is a smear). Inputs and targets are RGB 0..255; the losses are
    taken on 0..1."""

    def __init__(self, teacher, pixel_weight: float, detail_weight: float) -> None:
        super().__init__()
        self.teacher = teacher
        self.pixel_weight, self.detail_weight = pixel_weight, detail_weight

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """y: generator output, x: its input. Returns (weighted pixel, weighted detail) losses."""
        target = self.teacher(x) / 255.0
        y = y / 255.0
        pixel = F.l1_loss(y, target)
        (gy, gx), (ty, tx) = image_gradients(y), image_gradients(target)
        detail = F.l1_loss(gy, ty) + F.l1_loss(gx, tx)
        return self.pixel_weight * pixel, self.detail_weight * detail
