"""The peak memory a training job will need, estimated from its parameters alone, so that
a job that cannot fit is refused before it is queued instead of exhausting the worker.

Rough on purpose (within a factor of about two): what training keeps for the backward pass
grows with batch × pixels × channels, and that term dwarfs the rest for the sizes a form
can ask for. The constants are activation bytes per pixel and channel of one image.
"""
from __future__ import annotations

from typing import Any

FLOAT_BYTES = 4
# Tensors kept per convolution level of an encoder (conv, norm, activation, pooling) and
# their gradients: autoencoders mirror it in the decoder.
TENSORS_PER_LEVEL = 8
WORKING_SET = 0.5 * 2**30  # the interpreter, torch, a batch of decoded images
# Training activation memory of one 224 × 224 image, per timm family (MB), with room for
# the weights, their gradients and the optimizer's state.
CLASSIFIER_MB_AT_224 = {"resnet": 60, "efficientnet": 110, "convnext": 60, "vgg": 220,
                        "densenet": 180, "inception_v3": 150, "xception": 200,
                        "inception_resnet_v2": 250, "nasnet": 400}


def conv_net_bytes(batch: int, rows: int, cols: int, base_channels: int, depth: int,
                   mirrored: bool, views: int = 1) -> float:
    """Peak bytes of training a conv net whose level i has base × 2^i channels at
    1 / 2^i of the image side."""
    per_image = sum(base_channels * 2 ** level * (rows / 2 ** level) * (cols / 2 ** level)
                    for level in range(depth)) * TENSORS_PER_LEVEL * FLOAT_BYTES
    return WORKING_SET + batch * views * per_image * (2 if mirrored else 1)


def autoencoder_bytes(params: dict[str, Any]) -> float:
    rows, cols = params["image_size"]
    return conv_net_bytes(params["batch_size"], rows, cols, params["base_channels"],
                          params["depth"], mirrored=True)


def encoder_bytes(params: dict[str, Any], views: int = 1) -> float:
    """Training a square-image encoder on ``views`` views of each image of a batch."""
    side = params["image_size"]
    return conv_net_bytes(params["batch_size"], side, side, params["base_channels"],
                          params["depth"], mirrored=False, views=views)


def contrastive_bytes(params: dict[str, Any]) -> float:
    return encoder_bytes(params, views=2)  # two views of every image


def classifier_bytes(params: dict[str, Any], family: str) -> float:
    rows, cols = params["image_size"]
    per_image = CLASSIFIER_MB_AT_224.get(family, 400) * 2**20 * rows * cols / 224 ** 2
    return WORKING_SET + params["batch_size"] * per_image
