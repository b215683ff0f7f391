"""The autoencoder's shape: its parameters, the feasibility check and the layer table.

torch-free on purpose: the web process checks parameters and draws the architecture
diagram from this module without importing torch. ml/autoencoder.py builds the model from
the same spec, and tests/test_autoencoder.py checks that this table matches the real model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


# Parameter counts of the blocks of ml/autoencoder.py: 3x3 convolutions and 2x2 transposed
# convolutions without bias, each followed by a batch norm (2 parameters per channel).
def _conv_parameters(in_channels: int, out_channels: int, kernel: int) -> int:
    return in_channels * out_channels * kernel * kernel + 2 * out_channels


def layer_table(spec: AutoencoderSpec) -> list[dict[str, Any]]:
    """One row per block: name, kind, output shape ((C, H, W) or (features,)), parameters."""
    check_spec(spec)
    rows_px, cols_px = spec.image_size
    table = []

    def add(name, kind, shape, parameters):
        table.append({"name": name, "kind": kind, "output_shape": tuple(shape),
                      "parameters": parameters})

    in_channels = 1
    for level in range(spec.depth):
        channels = spec.channels(level)
        add(f"encoder.level{level}", "conv", (channels, rows_px, cols_px),
            _conv_parameters(in_channels, channels, 3))
        rows_px, cols_px = rows_px // 2, cols_px // 2
        add(f"encoder.down{level}", "downsample", (channels, rows_px, cols_px),
            _conv_parameters(channels, channels, 3))
        in_channels = channels
    channels, rows_px, cols_px = spec.bottleneck
    flat = channels * rows_px * cols_px
    add("encoder.flatten", "flatten", (flat,), 0)
    add("encoder.latent", "linear", (spec.latent_dim,), flat * spec.latent_dim + spec.latent_dim)
    add("decoder.expand", "linear", (flat,), spec.latent_dim * flat + flat)
    add("decoder.unflatten", "unflatten", (channels, rows_px, cols_px), 0)
    for level in reversed(range(spec.depth)):
        channels = spec.channels(level)
        out_channels = spec.channels(level - 1) if level else spec.base_channels
        rows_px, cols_px = rows_px * 2, cols_px * 2
        add(f"decoder.up{level}", "upsample", (channels, rows_px, cols_px),
            _conv_parameters(channels, channels, 2))
        add(f"decoder.level{level}", "conv", (out_channels, rows_px, cols_px),
            _conv_parameters(channels, out_channels, 3))
    add("decoder.output", "conv", (1, rows_px, cols_px), spec.base_channels + 1)
    add("decoder.sigmoid", "sigmoid", (1, rows_px, cols_px), 0)
    return table
