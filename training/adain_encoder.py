"""The frozen AdaIN encoder for training: VGG-19 to relu4_1 in pytorch-AdaIN's layout
(artem_server.models.adain.build_encoder), with the best weights this machine has offline.

1. A file given in the config: pytorch-AdaIN's `vgg_normalised.pth`, or torchvision's VGG-19.
2. torchvision's VGG-19 ImageNet file in the torch hub cache (`vgg19-dcbb9e9d.pth`).
3. Otherwise, when allowed, fixed random weights (the same rule as the VGG-16 loss network in
   vgg.py): random ReLU conv features still carry texture statistics, and the decoder is
   trained against this very encoder, which ships with it.

torchvision's layout differs from the peer's: no 1x1 preprocessing conv (inputs are normalised
by the ImageNet mean/std instead, which our conv 0 then does) and zero padding where ours
reflects; the convs' weights are the same tensors at other indices.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from artem_server.models.adain import ENCODER_MODULES, build_encoder, preprocessing_conv
from artem_server.models.adain_import import classify
from artem_server.models.importers import read_state_dict

from .vgg import IMAGENET_MEAN, IMAGENET_STD

TORCHVISION_VGG19_FILE = "vgg19-dcbb9e9d.pth"
# torchvision vgg19().features conv index -> the same conv's index in pytorch-AdaIN's encoder.
TORCHVISION_TO_PEER = {0: 2, 2: 5, 5: 9, 7: 12, 10: 16, 12: 19, 14: 22, 16: 25, 19: 29}


def hub_vgg19_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG19_FILE


def _from_torchvision(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for tv, ours in TORCHVISION_TO_PEER.items():
        for p in ("weight", "bias"):
            out[f"{ours}.{p}"] = sd[f"features.{tv}.{p}"]
    # conv 0 normalises RGB 0..1 by ImageNet mean/std, what torchvision's weights expect.
    std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
    out["0.weight"] = torch.diag(1 / std).view(3, 3, 1, 1)
    out["0.bias"] = -mean / std
    return out


def random_encoder(seed: int) -> nn.Sequential:
    """The published preprocessing conv, then Kaiming-normal (fan-in, ReLU gain) 3x3 convs with
    zero biases, from a private generator: the same seed gives the same encoder."""
    enc = build_encoder()
    g = torch.Generator().manual_seed(seed)
    w0, b0 = preprocessing_conv()
    with torch.no_grad():
        enc[0].weight.copy_(w0)
        enc[0].bias.copy_(b0)
        for m in list(enc)[1:]:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=g)
                nn.init.zeros_(m.bias)
    return enc


def build_adain_encoder(
    weights: str | None, random_seed: int, allow_random: bool
) -> tuple[nn.Sequential, str, bool]:
    """(frozen eval-mode encoder, a sentence for the model card, pretrained?). `weights`: a path
    or None for the hub cache. Without a file, random weights if `allow_random`, else
    FileNotFoundError."""
    path = Path(weights) if weights else hub_vgg19_path()
    if path.is_file():
        sd = read_state_dict(path)
        if classify(sd) == "encoder":
            state = {
                k: v
                for k, v in sd.items()
                if k.split(".")[0].isdigit() and int(k.split(".")[0]) < ENCODER_MODULES
            }
            described = f"pytorch-AdaIN's VGG-19 encoder from {path.name}"
        elif "features.19.weight" in sd:
            state = _from_torchvision(sd)
            described = (
                f"VGG-19 ImageNet weights (torchvision layout) from {path.name}, "
                "reflection instead of zero padding"
            )
        else:
            raise ValueError(
                f"{path}: neither pytorch-AdaIN's vgg_normalised.pth nor a torchvision VGG-19 "
                f"state dict"
            )
        enc = build_encoder()
        enc.load_state_dict({k: v.float() for k, v in state.items()})
        pretrained = True
    elif weights or not allow_random:
        raise FileNotFoundError(f"VGG-19 encoder weights {str(path)!r} not found")
    else:
        enc = random_encoder(random_seed)
        described = (
            f"random-weight VGG-19 to relu4_1 (Kaiming normal, seed {random_seed}, published "
            f"preprocessing conv): {TORCHVISION_VGG19_FILE} was not in {path.parent}"
        )
        pretrained = False
        warnings.warn(f"adain encoder: {described}", stacklevel=2)
    return enc.eval().requires_grad_(False), described, pretrained
