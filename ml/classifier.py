"""Image classifiers from timm, chosen by name: the families MLCoach offers plus small
modern ones that train fast on a CPU.

The registry (``FAMILIES``, ``MODELS``) is plain data, importable without torch, so the web
process can list models and check parameters; torch and timm are imported only when a
model is built. Every model takes one-channel images (``in_chans=1``): detector frames are
grey, and timm sums the colour weights of a pretrained first convolution into one.
Weights come only from a local file the user names; nothing is ever downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence

from data.sources.base import SourceError
from data.sources.directory import confined
from errors import DomainError

if TYPE_CHECKING:
    import torch
    from torch import nn

MODEL_FORMAT = 1
MAX_IMAGE_SIDE = 1024
# The web process reads a weights file to check it fits: 2 GiB holds a ViT-L in float32.
MAX_WEIGHTS_BYTES = 2 * 2**30
WEIGHTS_ROOTS = "the folders weights files must lie in: the data roots and the data home"
# How rare classes are helped: not at all, a loss weight per class, or drawing them more often.
BALANCING = ("none", "class_weights", "sampler")


@dataclass(frozen=True)
class Family:
    title: str
    models: tuple[str, ...]  # timm names, smallest first
    default_size: int  # the input side the architecture was designed for
    min_size: int  # below this the feature maps shrink to nothing
    fast_on_cpu: bool = False


FAMILIES: dict[str, Family] = {
    "resnet": Family("ResNet", ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"),
                     224, 16, fast_on_cpu=True),
    "efficientnet": Family("EfficientNet", ("efficientnet_b0",), 224, 16, fast_on_cpu=True),
    "convnext": Family("ConvNeXt", ("convnext_atto",), 224, 32, fast_on_cpu=True),
    "vgg": Family("VGG", ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"), 224, 32),
    "densenet": Family("DenseNet", ("densenet121", "densenet169", "densenet201"), 224, 32),
    "inception_v3": Family("Inception v3", ("inception_v3",), 299, 75),
    "xception": Family("Xception", ("legacy_xception",), 299, 32),
    "inception_resnet_v2": Family("Inception-ResNet v2", ("inception_resnet_v2",), 299, 75),
    "nasnet": Family("NASNet", ("nasnetalarge",), 331, 32),
}
MODELS: dict[str, Family] = {name: family for family in FAMILIES.values()
                             for name in family.models}


def family_of(model_name: str) -> Family:
    try:
        return MODELS[model_name]
    except KeyError:
        raise ValueError(f"model '{model_name}' is not offered; choose one of "
                         f"{', '.join(MODELS)}") from None


def check_image_size(model_name: str, image_size: tuple[int, int]) -> None:
    """Raise ValueError when ``image_size`` (rows, columns) is too small or too large."""
    family = family_of(model_name)
    if not all(family.min_size <= side <= MAX_IMAGE_SIDE for side in image_size):
        raise ValueError(f"image_size {list(image_size)} does not suit {model_name}: each side "
                         f"must be between {family.min_size} and {MAX_IMAGE_SIDE} pixels "
                         f"({family.default_size} is its usual size)")


def check_weights_path(value: Any, roots: Sequence[Path]) -> Optional[str]:
    """The resolved path of the local weights file a job's ``weights_path`` names (None
    when empty), or a DomainError saying what to give: the file must lie inside ``roots``
    (the data roots and the data home; links and ``..`` are resolved first) and hold at
    most MAX_WEIGHTS_BYTES."""
    field = "params.weights_path"
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise DomainError(f"{field} must be the path of a local weights file", field)
    try:
        path = confined(Path(value), roots, WEIGHTS_ROOTS)
    except SourceError as error:
        raise DomainError(f"{field}: {error}", field) from error
    if not path.is_file():
        raise DomainError(f"{field}: there is no file at {path}; give the path of a local "
                          ".pth, .pt or .safetensors file (weights are never downloaded)", field)
    size = path.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise DomainError(f"{field}: {path} holds {size / 2**30:.1f} GiB; a weights file may "
                          f"hold at most {MAX_WEIGHTS_BYTES // 2**30} GiB", field)
    return str(path)


# ---------------------------------------------------------------- building

def create_classifier(model_name: str, num_classes: int, weights_path: Optional[str] = None,
                      freeze_backbone: bool = False) -> "nn.Module":
    """A one-channel timm classifier with ``num_classes`` outputs, random or from local
    weights; with ``freeze_backbone`` only the classification head trains."""
    import timm

    family_of(model_name)
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    model = timm.create_model(model_name, pretrained=False, in_chans=1, num_classes=num_classes)
    if weights_path:
        load_weights(model, Path(weights_path))
    if freeze_backbone:
        head = {id(p) for p in model.get_classifier().parameters()}
        for parameter in model.parameters():
            parameter.requires_grad_(id(parameter) in head)
    return model


def _read_state_dict(path: Path) -> dict[str, "torch.Tensor"]:
    import torch

    if not path.is_file():
        raise ValueError(f"weights_path: there is no file at {path}; give the path of a local "
                         ".pth, .pt or .safetensors file (weights are never downloaded)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any decoder error means the same thing to the user
        raise ValueError(f"weights_path: {path} is not a PyTorch weights file "
                         f"({type(error).__name__}: {str(error)[:200]})") from error
    for key in ("state_dict", "model", "state_dict_ema"):  # checkpoints wrap the weights
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise ValueError(f"weights_path: {path} holds no state dict of tensors")
    return {key.removeprefix("module."): value for key, value in state.items()}


def _adapt_first_convs(model: "nn.Module", state: dict[str, "torch.Tensor"]) -> None:
    """Stem weights made for another number of input channels fitted to the model's, as
    timm does for its own weights: RGB summed into one grey channel, or a grey channel
    spread over three (the same convolution of a grey image either way)."""
    from timm.models import adapt_input_conv

    expected = model.state_dict()
    first = model.pretrained_cfg.get("first_conv") or ()
    for name in (first,) if isinstance(first, str) else first:
        key = f"{name}.weight"
        if key not in state or key not in expected or state[key].ndim != 4:
            continue
        channels, given = expected[key].shape[1], state[key].shape[1]
        if channels != given:
            state[key] = adapt_input_conv(channels, state[key], base_chans=min(given, 3))


def _classifier_keys(model: "nn.Module") -> set[str]:
    head = model.pretrained_cfg.get("classifier") or ()
    return {f"{name}.{p}" for name in ((head,) if isinstance(head, str) else head)
            for p in ("weight", "bias")}


def load_weights(model: "nn.Module", path: Path) -> None:
    """Load pretrained weights into ``model``; a head of another size is left random.

    Raises ValueError saying what does not fit when the file is for another architecture.
    """
    model.load_state_dict(fitted_weights(model, path), strict=False)


def fitted_weights(model: "nn.Module", path: Path) -> dict[str, "torch.Tensor"]:
    """The weights of the file at ``path`` as ``model`` takes them (stem adapted, a head of
    another size dropped), or a ValueError saying what does not fit."""
    state = _read_state_dict(path)
    _adapt_first_convs(model, state)
    expected = model.state_dict()
    head = _classifier_keys(model)
    for key in head:
        if key in state and key in expected and state[key].shape != expected[key].shape:
            del state[key]  # another number of classes: this head trains from scratch
    missing = [k for k in expected if k not in state and k not in head]
    unexpected = [k for k in state if k not in expected]
    misshapen = [k for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or misshapen:
        problems = [f"{len(found)} {what} (e.g. {found[0]})" for what, found in (
            ("tensors missing", missing), ("unknown tensors", unexpected),
            ("tensors of another shape", misshapen)) if found]
        architecture = model.pretrained_cfg.get("architecture")
        raise ValueError(f"weights_path: {path} does not fit {architecture}: "
                         f"{'; '.join(problems)}; use weights saved from the same timm model")
    return state


def input_stats(model: "nn.Module") -> tuple[float, float]:
    """The grey-level mean and std the model's weights expect (its RGB values averaged)."""
    config = model.pretrained_cfg
    mean, std = config.get("mean", (0.5,)), config.get("std", (0.5,))
    return float(sum(mean) / len(mean)), float(sum(std) / len(std))


# ---------------------------------------------------------------- files

def save_classifier(path: Path, model: "nn.Module", model_name: str,
                    image_size: tuple[int, int]) -> None:
    import torch

    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    torch.save({"format": MODEL_FORMAT, "kind": "timm_classifier", "model": model_name,
                "num_classes": int(model.num_classes), "image_size": list(image_size),
                "state_dict": state}, Path(path))


def load_classifier(path: Path) -> tuple["nn.Module", dict[str, Any]]:
    """(model in eval mode on the CPU, its description) of a file saved by save_classifier."""
    import timm
    import torch

    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    if saved.get("kind") != "timm_classifier" or saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path} is not a beamlabel classifier file (format {MODEL_FORMAT})")
    model = timm.create_model(saved["model"], pretrained=False, in_chans=1,
                              num_classes=saved["num_classes"])
    model.load_state_dict(saved["state_dict"])
    description = {key: saved[key] for key in ("model", "num_classes", "image_size")}
    return model.eval(), description
