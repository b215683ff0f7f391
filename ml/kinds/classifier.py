"""The classifier job kinds: training a timm classifier on a data set's labels, and
inference (class probabilities and penultimate-layer features) over the whole data set.

The parameter and data-set checks run in the web process before a job is queued and
import no torch; the ``run_*`` functions import the training code when a job runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sqlalchemy.orm import Session

from data.transforms import Transform
from db.jobs import finished_job
from errors import DomainError
from ml.classifier import (BALANCING, FAMILIES, MODELS, check_image_size,
                           check_weights_path)
from ml.class_mapping import (class_ids_by_name, column_label_ids, create_missing_classes,
                              mapping_summary)
from ml.classifier_data import check_training_set, training_set
from ml.init_model import (START_PARAMS, check_init_model, check_start_params,
                           fine_tuning_record, match_classes, starting_job, weights_file)
from ml.kinds.context import JobContext
from ml.kinds.spec import (Extension, JobCancelled, JobKind, check_model_kept,
                           register_kind)
from ml.memory_estimate import classifier_bytes
from ml.params import Choice, Flag, Param, params_checker
from ml.training_choices import OPTIMIZER_NAMES

TRAIN_SPEC = {
    "model": Choice(tuple(MODELS)),
    "epochs": Param(int, 10, 1, 1000), "batch_size": Param(int, 32, 1, 4096),
    "learning_rate": Param(float, 1e-3, 1e-7, 1.0), "optimizer": Choice(OPTIMIZER_NAMES),
    "val_share": Param(float, 0.2, 0.05, 0.9), "seed": Param(int, 0, 0, 2**31 - 1),
    "label_smoothing": Param(float, 0.0, 0.0, 0.5), "patience": Param(int, 0, 0, 1000),
    "balance": Choice(BALANCING), "rotation": Param(float, 0.0, 0.0, 180.0),
    "hflip": Flag(False), "vflip": Flag(False), "freeze_backbone": Flag(False),
    "log": Flag(True), "pmin": Param(float, 1.0, 0.0, 100.0),
    "pmax": Param(float, 99.0, 0.0, 100.0),
    # 0: the current labels; otherwise the labels as they stood right after this event.
    "event_id": Param(int, 0, 0, None),
    # with init_model: the backbone keeps its weights; only the head trains
    "freeze_pretrained": Flag(False), **START_PARAMS,
}
TRAIN_PARAMS = params_checker(TRAIN_SPEC)
INFER_PARAMS = params_checker({"model_job_id": Param(int, 0, 1, None),
                               "batch_size": Param(int, 128, 1, 4096),
                               # a model of another data set: add the classes it knows that
                               # this data set lacks, so that every column maps to a class
                               "create_missing_classes": Flag(False)})
SEPARATE = ("image_size", "weights_path")


# ---------------------------------------------------------------- parameters

def training_bytes(params: dict[str, Any]) -> float:
    family = next(key for key, family in FAMILIES.items() if params["model"] in family.models)
    return classifier_bytes(params, family)


def _image_size(value: Any, model: str) -> list[int]:
    side = isinstance(value, int) and not isinstance(value, bool)
    pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not (side or pair):
        raise DomainError("params.image_size must be a side in pixels (e.g. 64) or "
                          "[height, width]", "params.image_size")
    size = [value, value] if side else [int(v) for v in value]
    try:
        check_image_size(model, tuple(size))
    except ValueError as error:
        raise DomainError(f"params.{error}", "params.image_size") from error
    return size


def check_train_params(params: dict[str, Any]) -> dict[str, Any]:
    """Normalised training parameters; a DomainError naming the field to change otherwise."""
    checked = TRAIN_PARAMS({k: v for k, v in params.items() if k not in SEPARATE})
    default_size = MODELS[checked["model"]].default_size
    checked["image_size"] = _image_size(params.get("image_size", default_size),
                                        checked["model"])
    checked["weights_path"] = params.get("weights_path") or None  # see check_train_files
    if checked["pmin"] >= checked["pmax"]:
        raise DomainError("params.pmin must be below params.pmax", "params.pmin")
    if checked["freeze_backbone"] and not checked["weights_path"]:
        raise DomainError("params.freeze_backbone needs params.weights_path: a frozen random "
                          "backbone learns nothing (starting from params.init_model, use "
                          "params.freeze_pretrained)", "params.freeze_backbone")
    if checked["weights_path"] and checked["init_model"] is not None:
        raise DomainError("params.weights_path and params.init_model both give the starting "
                          "weights; keep one of them", "params.weights_path")
    return check_start_params(checked)


def check_train_files(params: dict[str, Any], roots: Sequence[Path]) -> dict[str, Any]:
    """The parameters with the weights file confined to ``roots`` and checked."""
    return {**params, "weights_path": check_weights_path(params["weights_path"], roots)}


def check_infer_params(params: dict[str, Any]) -> dict[str, Any]:
    if "model_job_id" not in params:
        raise DomainError("params.model_job_id is required: the id of a finished "
                          "classifier_train job", "params.model_job_id")
    return INFER_PARAMS(params)


# ---------------------------------------------------------------- data set checks

def check_train_dataset(session: Session, dataset_id: int, params: dict[str, Any]) -> None:
    check_init_model(session, "classifier_train", params)
    check_training_set(training_set(session, dataset_id, params["event_id"]))


def _model_job(session: Session, job_id: int):
    """The classifier_train job whose model infers; of any data set (its classes map to the
    inferred data set's by name: ``ml.class_mapping``)."""
    return finished_job(session, job_id, "classifier_train")


def check_infer_dataset(session: Session, dataset_id: int, params: dict[str, Any]) -> None:
    """Refuse an unknown or unfinished model; with create_missing_classes, add the model's
    classes the data set lacks (in the transaction that records the job)."""
    model_job = _model_job(session, params["model_job_id"])
    if params["create_missing_classes"]:
        create_missing_classes(session, dataset_id, model_job)


# ---------------------------------------------------------------- running

def _options(params: dict[str, Any], start_from):
    from ml.classifier_train import ClassifierOptions
    from ml.training import Augment

    return ClassifierOptions(
        model=params["model"], epochs=params["epochs"], batch_size=params["batch_size"],
        learning_rate=params["learning_rate"], optimizer=params["optimizer"],
        val_share=params["val_share"], seed=params["seed"],
        label_smoothing=params["label_smoothing"], patience=params["patience"],
        balance=params["balance"],
        augment=Augment(hflip=params["hflip"], vflip=params["vflip"],
                        rotation=params["rotation"]),
        weights_path=params["weights_path"],
        freeze_backbone=params["freeze_backbone"] or params["freeze_pretrained"],
        start_from=start_from, pretrained_lr_scale=params["pretrained_lr_scale"] or 1.0)


def _start_from(context: JobContext, class_names: list[str]):
    """(the function that loads the init_model's weights into the new model, with its head
    rows matched to ``class_names`` by name; what it keeps), or (None, None) from scratch."""
    from ml.classifier import load_classifier
    from ml.fine_tuning import start_classifier

    params = context.params
    if params["init_model"] is None:
        return None, None
    with context.session_factory() as session:
        job = starting_job(session, "classifier_train", params["init_model"])
    saved, _description = load_classifier(weights_file(job))
    model_names = job.result["label_names"]
    match = match_classes(model_names, class_names)
    backbone = ("frozen" if params["freeze_pretrained"] else
                f"at {params['pretrained_lr_scale']:g} × the learning rate")
    context.log(f"starting from model {job.id}: {match.summary()}; backbone {backbone}")
    return (lambda model: start_classifier(model, saved, model_names, class_names)), match


def run_classifier_train(context: JobContext) -> dict[str, Any]:
    from ml.classifier import save_classifier
    from ml.classifier_train import train_classifier

    params = context.params
    with context.session_factory() as session:
        training = training_set(session, context.dataset.id, params["event_id"])
    check_training_set(training)
    context.log(f"reading {len(training.labels)} labeled images (up to event "
                f"{training.event_id})")
    image_size = tuple(params["image_size"])
    loaded = context.load_images(context.items(only=training.labels), image_size,
                                 Transform.of(params))
    column = {label_id: index for index, label_id in enumerate(training.label_ids)}
    targets = np.array([column[training.labels[item_id]] for item_id in loaded.item_ids],
                       dtype=np.int64)
    counts = np.bincount(targets, minlength=len(column)).tolist()
    context.log(f"training {params['model']} on {len(targets)} images, per class "
                f"{dict(zip(training.label_names, counts))} ({len(loaded.failed)} unreadable)")

    def on_epoch(epoch: int, metrics: dict) -> None:
        context.report(epoch / params["epochs"], {"epoch": epoch, **metrics})

    start_from, match = _start_from(context, training.label_names)
    result = train_classifier(loaded.images, targets, len(column),
                              _options(params, start_from), on_epoch, context.should_stop)
    if result.cancelled:
        raise JobCancelled()
    save_classifier(context.artifact_dir / "model.pt", result.model, params["model"],
                    image_size)
    # held-out labels for the precision a probability threshold states (ml.rankings)
    np.save(context.artifact_dir / "validation_item_ids.npy",
            np.asarray(loaded.item_ids, np.int64)[result.validation_rows])
    return {"model": "model.pt", "validation_items": "validation_item_ids.npy",
            "model_name": params["model"], "image_size": list(image_size),
            "images": len(targets), "unreadable": len(loaded.failed),
            "label_ids": training.label_ids, "label_names": training.label_names,
            "class_counts": counts, "trained_on_event_id": training.event_id,
            "best_epoch": result.best_epoch, "stopped_early": result.stopped_early,
            "val_accuracy": result.report.get("accuracy"), "validation": result.report,
            "init_model": params["init_model"],
            "fine_tuning": fine_tuning_record(
                params, "backbone", kept="the backbone, and the head rows of kept_classes",
                **(match.to_dict() if match else {}))}


def _classify(context: JobContext, model_job, items, batch_size: int, on_failure=None):
    """The ml.classifier_train.ClassifierInference of ``items`` by ``model_job``'s model."""
    from ml.classifier import load_classifier
    from ml.classifier_train import infer_classifier

    model, description = load_classifier(Path(model_job.artifact_dir) / model_job.result["model"])
    batches = context.batches(items, tuple(description["image_size"]),
                              Transform.of(model_job.params), batch_size, on_failure=on_failure)
    return infer_classifier(model, batches, context.should_stop)


def run_classifier_infer(context: JobContext) -> dict[str, Any]:
    with context.session_factory() as session:
        model_job = _model_job(session, context.params["model_job_id"])
        class_ids = class_ids_by_name(session, context.dataset.id)
    model_names = model_job.result["label_names"]
    label_ids = column_label_ids(model_job, context.dataset.id, class_ids)
    failed: list[int] = []
    inference = _classify(context, model_job, context.items(), context.params["batch_size"],
                          on_failure=lambda item_id, _message: failed.append(item_id))
    if context.should_stop():
        raise JobCancelled()
    context.log(f"{len(inference.item_ids)} items classified, {len(failed)} unreadable")
    mapping = mapping_summary(model_names, label_ids, class_ids)
    if mapping["missing"]:
        context.log(f"classes of model {model_job.id} this data set lacks (shown under the "
                    f"model's names, never used to label): {', '.join(mapping['missing'])}")
    folder = context.artifact_dir
    np.save(folder / "probabilities.npy", inference.probabilities.astype(np.float32))
    np.save(folder / "features.npy", inference.features.astype(np.float32))
    np.save(folder / "item_ids.npy", np.asarray(inference.item_ids, np.int64))
    return {"items": len(inference.item_ids), "feature_dim": int(inference.features.shape[1]),
            # per column: this data set's class of the model's class name (None: it has none)
            "label_ids": label_ids,
            "label_names": model_names, "model_job_id": model_job.id,
            "model_dataset_id": model_job.dataset_id, "class_mapping": mapping,
            "unreadable": len(failed),
            "files": {"probabilities": "probabilities.npy", "features": "features.npy",
                      "item_ids": "item_ids.npy"}}


def extension_rows(context: JobContext, job, items) -> dict[str, Any]:
    """Probabilities (in the columns of inference ``job``: the same model) and features of
    ``items``."""
    with context.session_factory() as session:
        model_job = _model_job(session, job.params["model_job_id"])
    inference = _classify(context, model_job, items, job.params["batch_size"])
    return {"item_ids": np.asarray(inference.item_ids, np.int64),
            "probabilities": inference.probabilities.astype(np.float32),
            "features": inference.features.astype(np.float32)}


register_kind(JobKind(
    name="classifier_train", queue="gpu", run=run_classifier_train,
    produces_model=True,
    check_params=check_train_params, check_files=check_train_files,
    check_dataset=check_train_dataset, estimate_memory=training_bytes,
    description="train a timm image classifier on the data set's labels (model.pt, "
                "per-epoch metrics, validation confusion matrix)"))
register_kind(JobKind(
    name="classifier_infer", queue="gpu", run=run_classifier_infer,
    check_params=check_infer_params, check_dataset=check_infer_dataset,
    extend=Extension(extension_rows,
                     lambda session, job: check_model_kept(session, job, "classifier_train")),
    description="class probabilities and penultimate-layer features of every item "
                "(probabilities.npy, features.npy, item_ids.npy)"))
