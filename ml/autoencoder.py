"""A convolutional autoencoder for detector images (its shape: ml/autoencoder_spec.py).

Each encoder level runs a 3x3 convolution to B*2^i channels, then a stride-2 convolution
that halves the resolution; the (M/2^d) x (N/2^d) x (B*2^(d-1)) bottleneck is flattened
and projected to the latent vector. The decoder mirrors this with transposed convolutions
and ends in a sigmoid, since the model inputs are transformed images in [0, 1].
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ml.autoencoder_spec import AutoencoderSpec, check_spec


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


def encoder_blocks(spec: AutoencoderSpec) -> OrderedDict:
    """The encoder's blocks, from (batch, 1, M, N) images to (batch, latent_dim) vectors;
    other models that encode images (ml.contrastive) build theirs here too."""
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


class ConvAutoencoder(nn.Module):
    def __init__(self, spec: AutoencoderSpec):
        super().__init__()
        check_spec(spec)
        self.spec = spec
        self.encoder = nn.Sequential(encoder_blocks(spec))
        self.decoder = nn.Sequential(self._decoder_blocks(spec))

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
