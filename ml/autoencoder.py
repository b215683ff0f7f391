"""A convolutional autoencoder for detector images, its feasibility check and layer table.

Each encoder level runs a 3x3 convolution to B*2^i channels, then a stride-2 convolution
that halves the resolution; the (M/2^d) x (N/2^d) x (B*2^(d-1)) bottleneck is flattened
and projected to the latent vector. The decoder mirrors this with transposed convolutions
and ends in a sigmoid, since the model inputs are transformed images in [0, 1].
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

MAX_DEPTH = 6
MAX_BASE_CHANNELS = 256
MAX_LATENT_DIM = 4096
MAX_IMAGE_SIDE = 4096


@dataclass(frozen=True)
class AutoencoderSpec:
    image_size: tuple[int, int] = (64, 64)  # (M, N): rows, columns
    base_channels: int = 32
    latent_dim: int = 64
    depth: int = 3

    def channels(self, level: int) -> int:
        return self.base_channels * 2 ** level

    @property
    def bottleneck(self) -> tuple[int, int, int]:
        rows, cols = self.image_size
        scale = 2 ** self.depth
        return self.channels(self.depth - 1), rows // scale, cols // scale

    def to_dict(self) -> dict[str, Any]:
        return {"image_size": list(self.image_size), "base_channels": self.base_channels,
                "latent_dim": self.latent_dim, "depth": self.depth}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "AutoencoderSpec":
        return cls(image_size=tuple(values["image_size"]),
                   base_channels=values["base_channels"], latent_dim=values["latent_dim"],
                   depth=values["depth"])


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _check_image_size(spec: AutoencoderSpec) -> None:
    size = spec.image_size
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(f"image_size must be (rows, columns), got {size!r}")
    for side in size:
        _check_int("image_size", side, 4, MAX_IMAGE_SIDE)
    scale = 2 ** spec.depth
    for side in size:
        if side % scale or side // scale < 2:
            raise ValueError(
                f"image_size {tuple(size)} does not fit depth {spec.depth}: each side must be "
                f"a multiple of 2^depth = {scale} and at least {2 * scale} pixels; change "
                f"image_size (e.g. {_fitting_size(side, scale)}) or lower depth")


def _fitting_size(side: int, scale: int) -> int:
    return max(2 * scale, round(side / scale) * scale)


def check_spec(spec: AutoencoderSpec) -> None:
    """Raise ValueError naming the parameter to change when ``spec`` cannot be built."""
    _check_int("depth", spec.depth, 1, MAX_DEPTH)
    _check_int("base_channels", spec.base_channels, 1, MAX_BASE_CHANNELS)
    _check_int("latent_dim", spec.latent_dim, 1, MAX_LATENT_DIM)
    _check_image_size(spec)


def _conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True))


def _up_block(channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True))


# Kinds shown in the architecture diagram, by the first module of a block.
_KINDS = {nn.Conv2d: "conv", nn.ConvTranspose2d: "upsample", nn.Linear: "linear",
          nn.Flatten: "flatten", nn.Unflatten: "unflatten", nn.Sigmoid: "sigmoid"}


class ConvAutoencoder(nn.Module):
    def __init__(self, spec: AutoencoderSpec):
        super().__init__()
        check_spec(spec)
        self.spec = spec
        self.encoder = nn.Sequential(self._encoder_blocks(spec))
        self.decoder = nn.Sequential(self._decoder_blocks(spec))

    @staticmethod
    def _encoder_blocks(spec: AutoencoderSpec) -> OrderedDict:
        blocks: OrderedDict = OrderedDict()
        in_channels = 1
        for level in range(spec.depth):
            channels = spec.channels(level)
            blocks[f"level{level}"] = _conv_block(in_channels, channels)
            blocks[f"down{level}"] = _conv_block(channels, channels, stride=2)
            in_channels = channels
        channels, rows, cols = spec.bottleneck
        blocks["flatten"] = nn.Flatten()
        blocks["latent"] = nn.Linear(channels * rows * cols, spec.latent_dim)
        return blocks

    @staticmethod
    def _decoder_blocks(spec: AutoencoderSpec) -> OrderedDict:
        channels, rows, cols = spec.bottleneck
        blocks: OrderedDict = OrderedDict()
        blocks["expand"] = nn.Sequential(nn.Linear(spec.latent_dim, channels * rows * cols),
                                         nn.ReLU(inplace=True))
        blocks["unflatten"] = nn.Unflatten(1, (channels, rows, cols))
        for level in reversed(range(spec.depth)):
            channels = spec.channels(level)
            out_channels = spec.channels(level - 1) if level else spec.base_channels
            blocks[f"up{level}"] = _up_block(channels)
            blocks[f"level{level}"] = _conv_block(channels, out_channels)
        blocks["output"] = nn.Conv2d(spec.base_channels, 1, 1)
        blocks["sigmoid"] = nn.Sigmoid()
        return blocks

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, 1, M, N) images -> (batch, latent_dim) latent vectors."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _kind(block: nn.Module) -> str:
    first = next(iter(block.children()), block)
    if isinstance(first, nn.Conv2d) and first.stride != (1, 1):
        return "downsample"
    return _KINDS[type(first)]


def layer_table(spec: AutoencoderSpec) -> list[dict[str, Any]]:
    """One row per block: name, kind, output shape ((C, H, W) or (features,)), parameters.

    The model is built on the meta device: shapes and counts without allocating weights,
    so even the largest allowed spec is described instantly.
    """
    check_spec(spec)
    with torch.device("meta"):
        model = ConvAutoencoder(spec)
        x = torch.empty(1, 1, *spec.image_size)
    rows = []
    for part in ("encoder", "decoder"):
        for name, block in getattr(model, part).named_children():
            x = block(x)
            rows.append({"name": f"{part}.{name}",
                         "kind": _kind(block),
                         "output_shape": tuple(x.shape[1:]),
                         "parameters": sum(p.numel() for p in block.parameters())})
    return rows
