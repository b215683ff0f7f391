"""Fine-tuning with torch: a classifier's head carried over to another set of classes by
name, its weights loaded into a new model, and the optimizer's parameter groups that give
the pre-trained part of a model its own learning rate.

Which model may start a run, and how classes match by name, is decided without torch in
``ml.init_model``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ml.init_model import ClassMatch, match_classes


def parameter_groups(model: nn.Module, full_rate_part: nn.Module, learning_rate: float,
                     pretrained_lr_scale: float) -> list[dict]:
    """The trainable parameters of ``model`` as optimizer groups: those of
    ``full_rate_part`` (a decoder, a head) at ``learning_rate``, all others (the pre-trained
    part) at ``learning_rate * pretrained_lr_scale``; empty groups are left out."""
    full_rate = {id(parameter) for parameter in full_rate_part.parameters()}
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in full_rate],
         "lr": learning_rate * pretrained_lr_scale},
        {"params": [p for p in trainable if id(p) in full_rate], "lr": learning_rate},
    ]
    return [group for group in groups if group["params"]]


def head_for_classes(model_head: dict[str, torch.Tensor], fresh_head: dict[str, torch.Tensor],
                     model_names: Sequence[str], run_names: Sequence[str]
                     ) -> dict[str, torch.Tensor]:
    """The head tensors (weight, bias: one row per class) for ``run_names``: the row of a
    class the model knows by name is copied from ``model_head``, the others are taken
    from ``fresh_head`` (a newly initialised head for ``run_names``)."""
    rows = {name: index for index, name in enumerate(model_names)}
    head = {}
    for key, fresh in fresh_head.items():
        if len(fresh) != len(run_names) or len(model_head[key]) != len(model_names):
            raise ValueError(f"head tensor {key}: {len(model_head[key])} and {len(fresh)} rows "
                             f"for {len(model_names)} and {len(run_names)} classes")
        tensor = fresh.detach().clone()
        for index, name in enumerate(run_names):
            if name in rows:
                tensor[index] = model_head[key][rows[name]]
        head[key] = tensor
    return head


def _head_name(model: nn.Module) -> str:
    head = model.get_classifier()
    return next(name for name, module in model.named_modules() if module is head)


def start_classifier(model: nn.Module, saved: nn.Module, model_names: Sequence[str],
                     run_names: Sequence[str]) -> ClassMatch:
    """Load a trained timm classifier ``saved`` (classes ``model_names``) into ``model``, the
    same architecture with a head for ``run_names``: the backbone as it is, the head's
    rows by class name (:func:`head_for_classes`). ValueError when the backbones differ."""
    prefix = _head_name(model) + "."
    saved_state, state = saved.state_dict(), model.state_dict()
    backbone = {key: value for key, value in saved_state.items() if not key.startswith(prefix)}
    expected = {key: value for key, value in state.items() if not key.startswith(prefix)}
    if backbone.keys() != expected.keys() or any(
            backbone[key].shape != value.shape for key, value in expected.items()):
        raise ValueError("the model to start from has another backbone than this run's; "
                         "start from a model of the same timm architecture")
    head = head_for_classes(
        {key.removeprefix(prefix): value for key, value in saved_state.items()
         if key.startswith(prefix)},
        model.get_classifier().state_dict(), model_names, run_names)
    model.load_state_dict({**backbone, **{prefix + key: value for key, value in head.items()}})
    return match_classes(model_names, run_names)
