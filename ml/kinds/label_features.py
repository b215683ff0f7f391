"""label_features: features learned from the labels so far (ml.label_encoder), stored
next to those of another feature job (a contrastive_features job, say), for the
suggestions. Seconds to train: meant to be run again every few hundred labels."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy.orm import Session

from data.transforms import Transform
from errors import DomainError
from ml.autoencoder_spec import check_spec
from ml.classifier_data import check_training_set, training_set
from ml.features import feature_job
from ml.kinds.context import JobContext
from ml.kinds.contrastive_features import SPEC as CONTRASTIVE_SPEC
from ml.kinds.contrastive_features import detector_views, spec_of
from ml.kinds.spec import JobCancelled, JobKind, register_kind
from ml.memory_estimate import encoder_bytes
from ml.params import Flag, Param, params_checker

IMAGE_FIELDS = ("image_size", "depth", "base_channels", "latent_dim", "rotation", "hflip",
                "vflip", "intensity", "counting_noise", "shift", "log", "pmin", "pmax")
SPEC = {**{name: CONTRASTIVE_SPEC[name] for name in IMAGE_FIELDS},
        "steps": Param(int, 600, 1, 100_000), "batch_size": Param(int, 64, 2, 4096),
        "learning_rate": Param(float, 1e-3, 1e-7, 1.0), "seed": Param(int, 0, 0, 2**31 - 1),
        # 0: only the features learned here; else a feature job whose vectors go alongside
        "source_job_id": Param(int, 0, 0, None),
        # a contrastive source of the same image size and network: start from its encoder
        "start_from_source": Flag(True)}
SHAPE_FIELDS = ("image_size", "depth", "base_channels", "latent_dim")
NUMBERS = params_checker(SPEC)
PROGRESS_EVERY = 50  # steps


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    checked = NUMBERS(params)
    if checked["pmin"] >= checked["pmax"]:
        raise DomainError("params.pmin must be below params.pmax", "params.pmin")
    try:
        check_spec(spec_of(checked))
    except ValueError as error:
        raise DomainError(f"params.{error}", "params.image_size") from error
    return checked


def check_dataset(session: Session, dataset_id: int, params: dict[str, Any]) -> None:
    check_training_set(training_set(session, dataset_id))
    if params["source_job_id"]:
        feature_job(session, params["source_job_id"], dataset_id, "params.source_job_id")


def _source_vectors(context: JobContext, item_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(rows of ``item_ids`` the source job has vectors for, those vectors)."""
    from ml.features import load_vectors, rows_of

    with context.session_factory() as session:
        job = feature_job(session, context.params["source_job_id"], context.dataset.id,
                          "params.source_job_id")
        source_ids, vectors = load_vectors(job)
    rows, found = rows_of(source_ids, np.asarray(item_ids, np.int64))
    return np.flatnonzero(found), np.asarray(vectors[rows[found]], np.float32)


def _start_weights(context: JobContext) -> Optional[dict]:
    """The weights of the source's contrastive encoder when the job may start from them
    and they fit its network; None (random weights) otherwise, with the reason logged."""
    import torch

    params = context.params
    if not (params["start_from_source"] and params["source_job_id"]):
        return None
    with context.session_factory() as session:
        source = feature_job(session, params["source_job_id"], context.dataset.id,
                             "params.source_job_id")
        kind, source_params = source.kind, dict(source.params)
        folder, weights = source.artifact_dir, (source.result or {}).get("encoder")
    different = [name for name in SHAPE_FIELDS if source_params.get(name) != params[name]]
    if weights is None or different:
        context.log(f"starting from random weights: the source job {params['source_job_id']} "
                    + (f"({kind}) stored no encoder" if weights is None
                       else f"has a different {', '.join(different)}"))
        return None
    context.log(f"starting from the encoder of job {params['source_job_id']}")
    return torch.load(Path(folder) / weights, map_location="cpu", weights_only=True)


def run_label_features(context: JobContext) -> dict[str, Any]:
    from ml.feature_extraction import encode_batches, in_batches
    from ml.features import write_features
    from ml.label_encoder import LabelEncoderOptions, train_label_encoder
    from ml.training import StopTraining

    params, spec = context.params, spec_of(context.params)
    with context.session_factory() as session:
        training = training_set(session, context.dataset.id)
    check_training_set(training)
    loaded = context.load_images(context.items(), spec.image_size, Transform.of(params))
    column = {label_id: index for index, label_id in enumerate(training.label_ids)}
    labeled = [row for row, item in enumerate(loaded.item_ids) if item in training.labels]
    targets = np.array([column[training.labels[loaded.item_ids[row]]] for row in labeled])
    context.log(f"training on {len(labeled)} labeled of {len(loaded.item_ids)} images, "
                f"{len(training.label_ids)} classes, {params['steps']} steps")
    options = LabelEncoderOptions(steps=params["steps"], batch_size=params["batch_size"],
                                  learning_rate=params["learning_rate"], seed=params["seed"],
                                  augment=detector_views(params, mask=0.0),
                                  start_weights=_start_weights(context))

    def on_step(step: int, loss: float) -> None:
        if step % PROGRESS_EVERY == 0 or step == params["steps"]:
            context.report(0.9 * step / params["steps"], {"step": step, "train_loss": loss})

    try:
        encoder = train_label_encoder(loaded.images[labeled], targets, spec, options, on_step,
                                      context.should_stop)
    except StopTraining:
        raise JobCancelled() from None
    item_ids, features = encode_batches(
        encoder, in_batches(loaded.item_ids, loaded.images, params["batch_size"]),
        context.should_stop)
    if context.should_stop():
        raise JobCancelled()
    if params["source_job_id"]:
        rows, vectors = _source_vectors(context, item_ids)
        item_ids, features = [item_ids[row] for row in rows], np.hstack([vectors, features[rows]])
    context.report(1.0)
    return {**write_features(context.artifact_dir, item_ids, features),
            "labels": len(labeled), "label_ids": training.label_ids,
            "unreadable": len(loaded.failed), "source_job_id": params["source_job_id"] or None,
            "started_from_source": options.start_weights is not None}


register_kind(JobKind(
    name="label_features", queue="gpu", run=run_label_features, check_params=check_params,
    check_dataset=check_dataset, estimate_memory=encoder_bytes,
    description="train a small encoder on the labels so far (seconds), then the features of "
                "every item, next to those of params.source_job_id (features.npy, "
                "item_ids.npy)"))
