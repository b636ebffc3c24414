"""The frozen loss network: VGG-16's convolutional trunk up to relu4_3, with named taps.

Our own definition, not torchvision's (whose PyPI build does not import beside the pinned CPU
torch), laid out index for index like torchvision's `vgg16().features` so its ImageNet state dict
(keys `features.N.weight` / `features.N.bias`) loads as plain data with
`torch.load(weights_only=True)`.

Without those weights a fixed random-weight VGG-16 stands in: random ReLU conv features still
describe texture through their Gram matrices (Ustyuzhaninov et al. 2017, "What does it take to
generate natural textures?"; He, Wang & Hopcroft 2016, "A powerful generative model using random
weights for the deep image representation"), and He/Kaiming initialisation keeps activations at
a steady scale through the 10 ReLU layers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from artem_server.models.adain import run_to_taps

# torchvision's file name for VGG16 IMAGENET1K_V1, as its hub download caches it.
TORCHVISION_VGG16_FILE = "vgg16-397923af.pth"

# Output channels per conv, "M" for 2x2 max pooling: VGG-16 configuration "D" up to conv4_3.
_LAYERS = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
# Tap name -> index of its ReLU in `features` (the same indices as torchvision's).
TAPS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}

# ImageNet statistics the VGG weights were trained with (RGB, 0..1 inputs).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """VGG-16 `features[0:23]`. Input: (N, 3, H, W) float RGB, 0..1 normalised by ImageNet
    mean/std. Output: {tap name: (N, C, H/k, W/k) ReLU activations} for the requested taps."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in _LAYERS:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)  # 23 modules; relu4_3 is the last

    def forward(
        self, x: torch.Tensor, taps: Sequence[str] = tuple(TAPS)
    ) -> dict[str, torch.Tensor]:
        unknown = [t for t in taps if t not in TAPS]
        if unknown:
            raise KeyError(f"unknown VGG-16 taps {unknown}; known: {list(TAPS)}")
        return run_to_taps(self.features, x, {TAPS[t]: t for t in taps})


def hub_weights_path() -> Path:
    """Where torchvision's download of the VGG-16 ImageNet weights would be cached."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG16_FILE


def load_imagenet_weights(net: VGG16Features, path: Path) -> None:
    """Copy a torchvision-layout VGG-16 state dict into `net`; classifier and deeper layers are
    ignored. Raises ValueError naming missing keys or wrong shapes."""
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    ours = net.state_dict()
    missing = [k for k in ours if k not in sd]
    wrong = [k for k in ours if k in sd and tuple(sd[k].shape) != tuple(ours[k].shape)]
    if missing or wrong:
        raise ValueError(
            f"{path}: not a torchvision VGG-16 state dict (missing {missing[:4]}, "
            f"wrong shapes {wrong[:4]})"
        )
    net.load_state_dict({k: sd[k] for k in ours})


def random_init(net: VGG16Features, seed: int) -> None:
    """Kaiming-normal conv weights (fan-in, ReLU gain) and zero biases from a private generator,
    so the same seed gives the same network whatever the global RNG did."""
    g = torch.Generator().manual_seed(seed)
    for m in net.features:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=g)
            nn.init.zeros_(m.bias)


def build_vgg16(
    weights: str | None, random_seed: int, allow_random: bool
) -> tuple[VGG16Features, str, bool]:
    """The frozen eval-mode loss net, a sentence saying which weights it has (for the model
    card), and whether they are pretrained. `weights`: a path, or None for the torch hub cache;
    when None and the cache lacks the file, falls back (with a warning) to random weights if
    `allow_random`, else raises FileNotFoundError."""
    net = VGG16Features()
    path = Path(weights) if weights else hub_weights_path()
    if path.is_file():
        load_imagenet_weights(net, path)
        described, pretrained = (
            f"VGG-16 ImageNet weights (torchvision layout) from {path.name}",
            True,
        )
    elif weights or not allow_random:
        raise FileNotFoundError(f"VGG-16 weights {str(path)!r} not found")
    else:
        random_init(net, random_seed)
        described = (
            f"random-weight VGG-16 (Kaiming normal, seed {random_seed}): "
            f"{TORCHVISION_VGG16_FILE} was not in {path.parent}"
        )
        pretrained = False
        warnings.warn(
            f"loss network: {described}; style losses use random-filter features", stacklevel=2
        )
    return net.eval().requires_grad_(False), described, pretrained
