"""Any timm backbone as a frozen feature extractor: its global-pooled features of grey
images, which are copied into the three colour channels the weights were trained on and
normalised with the weights' own mean and spread.

Weights come only from a local file (read and fitted by ml.classifier.load_weights);
nothing is downloaded. Without a file the backbone keeps its seeded random weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    import torch
    from torch import nn

COLOUR_CHANNELS = 3


def check_model_name(model_name: str) -> None:
    """ValueError when timm has no model of this name (imports timm: call it off the web
    process's import path)."""
    import timm

    if not timm.is_model(model_name):
        close = timm.list_models(f"*{model_name[:4]}*")[:8] if model_name else []
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ValueError(f"timm has no model '{model_name}'{hint}")


def check_weights_fit(model_name: str, weights_path: str) -> None:
    """ValueError saying what does not fit when the file holds no weights of this model;
    the model is built without memory (on torch's meta device), only the file is read."""
    import timm
    import torch

    from ml.classifier import fitted_weights

    with torch.device("meta"):
        model = timm.create_model(model_name, pretrained=False, in_chans=COLOUR_CHANNELS)
    fitted_weights(model, Path(weights_path))


def create_backbone(model_name: str, weights_path: Optional[str], seed: int = 0
                    ) -> "nn.Module":
    """The model without its classifier (its output: the pooled features), in eval mode."""
    import timm
    import torch

    from ml.classifier import load_weights

    check_model_name(model_name)
    torch.manual_seed(seed)  # the random weights, when there is no file, are repeatable
    model = timm.create_model(model_name, pretrained=False, in_chans=COLOUR_CHANNELS)
    if weights_path:
        load_weights(model, Path(weights_path))
    model.reset_classifier(0)
    return model.eval()


def input_size(model: "nn.Module") -> tuple[int, int]:
    """The (rows, columns) the architecture was made for."""
    return tuple(model.pretrained_cfg.get("input_size", (COLOUR_CHANNELS, 224, 224))[1:])


def colour_input(model: "nn.Module") -> Callable[["torch.Tensor"], "torch.Tensor"]:
    """(b, 1, M, N) grey batch in [0, 1] -> (b, 3, M, N), normalised as the weights expect."""
    import torch

    config = model.pretrained_cfg
    mean = torch.tensor(config.get("mean", (0.5,) * COLOUR_CHANNELS)).view(1, -1, 1, 1)
    std = torch.tensor(config.get("std", (0.5,) * COLOUR_CHANNELS)).view(1, -1, 1, 1)

    def prepare(batch: "torch.Tensor") -> "torch.Tensor":
        return (batch.expand(-1, COLOUR_CHANNELS, -1, -1) - mean) / std

    return prepare
