"""Stylize one image by optimizing its pixels (Gatys, Ecker & Bethge 2016), with no trained
model: `artem stylize --method optimize --style-image IMG`. Slow (hundreds of VGG passes per
image), but any style image works at once, and it shows what the perceptual loss alone asks for.

It minimises the same `PerceptualLoss` the generators train on, with the output image itself as
the parameter: content features of the input, Gram matrices of the style image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from .losses import PerceptualLoss
from .style_images import load_style_image
from .vgg import build_vgg16

# The loss taps and weights are the training recipe's (configs/loss/vgg16.yaml), not a copy.
LOSS_CONFIG = Path(__file__).resolve().parent / "configs" / "loss" / "vgg16.yaml"


def optimize_image(
    content: np.ndarray,
    style_spec: str,
    steps: int,
    *,
    lr: float = 2.0,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[np.ndarray, dict[str, float]]:
    """`content`: (H, W, 3) uint8 RGB; `style_spec`: an image path or `builtin:<name>`, used at
    its own size. Adam on the pixels (0..255 scale, so `lr` is in grey levels), starting from the
    content image. Returns the (H, W, 3) uint8 RGB result and the final weighted losses."""
    loss_cfg = OmegaConf.load(LOSS_CONFIG)
    vgg, _, pretrained = build_vgg16(None, int(loss_cfg.random_fallback.seed), True)
    weights = loss_cfg if pretrained else loss_cfg.random_fallback
    dev = torch.device(device)
    style = (
        torch.from_numpy(load_style_image(style_spec, None, 0))
        .permute(2, 0, 1)[None]
        .float()
        .to(dev)
    )
    loss_fn = PerceptualLoss(
        vgg.to(dev),
        style,
        loss_cfg.content_layer,
        loss_cfg.style_layers,
        float(weights.content_weight),
        float(weights.style_weight),
    )
    x = (
        torch.from_numpy(np.ascontiguousarray(content)).permute(2, 0, 1)[None].float().to(dev)
    )  # (1, 3, H, W) 0..255
    y = x.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y], lr=lr)
    content_loss = style_loss = torch.zeros(())
    for _ in tqdm(
        range(steps), desc="artem stylize --method optimize", unit="step", disable=not progress
    ):
        content_loss, style_loss = loss_fn(y, x)
        optimizer.zero_grad(set_to_none=True)
        (content_loss + style_loss).backward()
        optimizer.step()
        with torch.no_grad():
            y.clamp_(0, 255)
    out = y.detach()[0].permute(1, 2, 0).round().byte().cpu().numpy()
    return out, {"content_loss": float(content_loss), "style_loss": float(style_loss)}
