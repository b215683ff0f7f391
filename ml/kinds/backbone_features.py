"""The ``backbone_features`` job kind: the global-pooled features of any timm backbone,
frozen, with weights from a local file (ml.backbone), for every readable item.

Files: features.npy (float32 n × the backbone's feature width) and item_ids.npy, in the
ml.features contract; unreadable items are left out. The checks import timm (a model
name is only known to timm), but only when such a job is started.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from data.transforms import Transform
from errors import DomainError
from ml.classifier import check_weights_path
from ml.kinds.context import JobContext
from ml.kinds.spec import Extension, JobCancelled, JobKind, register_kind
from ml.params import Flag, Param, params_checker

DEFAULT_MODEL = "resnet18"
SPEC = {
    "batch_size": Param(int, 64, 1, 4096),
    # 0: the size the architecture was made for (e.g. 224 × 224)
    "image_size": Param(int, 0, 0, 1024),
    "seed": Param(int, 0, 0, 2**31 - 1),  # of the random weights when there is no file
    "log": Flag(True), "pmin": Param(float, 1.0, 0.0, 100.0),
    "pmax": Param(float, 99.0, 0.0, 100.0),
}
SEPARATE = ("model", "weights_path")
MIN_IMAGE_SIDE = 16
NUMBERS = params_checker(SPEC)


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Normalised parameters; a DomainError naming the field to change otherwise. The
    weights file is checked by :func:`check_files`."""
    checked = NUMBERS({k: v for k, v in params.items() if k not in SEPARATE})
    if 0 < checked["image_size"] < MIN_IMAGE_SIDE:
        raise DomainError(f"params.image_size must be 0 (the model's own size) or at least "
                          f"{MIN_IMAGE_SIDE} pixels", "params.image_size")
    if checked["pmin"] >= checked["pmax"]:
        raise DomainError("params.pmin must be below params.pmax", "params.pmin")
    checked["model"] = _checked_model(params.get("model", DEFAULT_MODEL))
    checked["weights_path"] = params.get("weights_path") or None
    return checked


def _checked_model(model_name: Any) -> str:
    from ml.backbone import check_model_name

    if not isinstance(model_name, str) or not model_name:
        raise DomainError("params.model must be a timm model name, e.g. resnet18",
                          "params.model")
    try:
        check_model_name(model_name)
    except ValueError as error:
        raise DomainError(f"params.model: {error}", "params.model") from error
    return model_name


def check_files(params: dict[str, Any], roots: Sequence[Path]) -> dict[str, Any]:
    """The parameters with the weights file confined to ``roots`` and read, so a file of
    another architecture is refused before queueing."""
    from ml.backbone import check_weights_fit

    weights_path = check_weights_path(params["weights_path"], roots)
    if weights_path:
        try:
            check_weights_fit(params["model"], weights_path)
        except ValueError as error:
            raise DomainError(f"params.{error}", "params.weights_path") from error
    return {**params, "weights_path": weights_path}


def _backbone(params: dict[str, Any]):
    """(the frozen backbone ``params`` name, the input size it is given)."""
    from ml.backbone import create_backbone, input_size

    model = create_backbone(params["model"], params["weights_path"], params["seed"])
    side = params["image_size"]
    return model, ((side, side) if side else input_size(model))


def _encode(context: JobContext, model, size: tuple[int, int], params: dict[str, Any], items,
            on_failure=None):
    """(item ids, features) of ``items`` by ``model`` (a backbone of ``params``)."""
    from ml.backbone import colour_input
    from ml.feature_extraction import encode_batches

    batches = context.batches(items, size, Transform.of(params), params["batch_size"],
                              on_failure=on_failure)
    return encode_batches(model, batches, context.should_stop, colour_input(model))


def run_backbone_features(context: JobContext) -> dict[str, Any]:
    from ml.features import write_features

    params = context.params
    model, size = _backbone(params)
    weights = params["weights_path"] or f"random (seed {params['seed']})"
    context.log(f"{params['model']} with weights {weights}, images at {size[0]} × {size[1]}")
    failed: list[int] = []
    item_ids, features = _encode(context, model, size, params, context.items(),
                                 on_failure=lambda item_id, _message: failed.append(item_id))
    if context.should_stop():
        raise JobCancelled()
    context.log(f"{len(item_ids)} items, {len(failed)} unreadable")
    return {**write_features(context.artifact_dir, item_ids, features),
            "model_name": params["model"], "weights": weights, "image_size": list(size),
            "unreadable": len(failed)}


def extension_rows(context: JobContext, job, items) -> dict[str, Any]:
    """Features of ``items`` by the same frozen backbone (same weights file or seed)."""
    item_ids, features = _encode(context, *_backbone(job.params), job.params, items)
    return {"item_ids": np.asarray(item_ids, np.int64),
            "features": np.asarray(features, np.float32)}


register_kind(JobKind(
    name="backbone_features", queue="gpu", run=run_backbone_features,
    check_params=check_params, check_files=check_files, extend=Extension(extension_rows),
    description="global-pooled features of a frozen timm backbone with weights from a "
                "local file (features.npy, item_ids.npy)"))
