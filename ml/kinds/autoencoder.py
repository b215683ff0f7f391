"""The autoencoder job kinds: training on a data set, and inference with a trained model.

Thin adapters from a job's parameters and context to ml.autoencoder_train; torch is
imported only when a job runs, never when the registry is imported.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from data.transforms import Transform
from db.jobs import finished_job
from errors import DomainError
from ml.autoencoder_spec import AutoencoderSpec, check_spec
from ml.init_model import (START_PARAMS, check_init_model, check_start_params,
                           fine_tuning_record, starting_job, weights_file)
from ml.kinds.context import JobContext
from ml.kinds.spec import (Extension, JobCancelled, JobKind, check_model_kept,
                           register_kind)
from ml.memory_estimate import autoencoder_bytes
from ml.params import Param, params_checker
from ml.training_choices import AUGMENT_MODE_NAMES, AUTOENCODER_LOSS_NAMES, OPTIMIZER_NAMES

# Original/reconstruction pairs each job saves for the page.
RECONSTRUCTION_PAIRS = 8
SPEC_FIELDS = ("image_size", "depth", "base_channels", "latent_dim")
CHOICES = {"optimizer": OPTIMIZER_NAMES, "loss": AUTOENCODER_LOSS_NAMES,
           "augment_mode": AUGMENT_MODE_NAMES}
TRAIN_NUMBER_PARAMS = {
    "epochs": Param(int, 20, 1, 1000), "batch_size": Param(int, 64, 1, 4096),
    "learning_rate": Param(float, 1e-3, 1e-7, 1.0), "base_channels": Param(int, 32, 1, 256),
    "latent_dim": Param(int, 64, 1, 4096), "depth": Param(int, 3, 1, 6),
    "val_share": Param(float, 0.2, 0.0, 0.9), "step_size": Param(int, 0, 0, 1000),
    "gamma": Param(float, 0.1, 0.0, 1.0), "seed": Param(int, 0, 0, 2**31 - 1),
    "patience": Param(int, 0, 0, 1000), "jitter": Param(float, 0.0, 0.0, 1.0),
    "pmin": Param(float, 1.0, 0.0, 100.0), "pmax": Param(float, 99.0, 0.0, 100.0),
    **START_PARAMS,
}
TRAIN_NUMBERS = params_checker(TRAIN_NUMBER_PARAMS)
# freeze_pretrained: with init_model, the encoder keeps its weights; only the decoder trains
FLAGS = {"log": True, "hflip": False, "vflip": False, "freeze_pretrained": False}


def _field_of(message: str) -> str:
    return "params." + next((name for name in SPEC_FIELDS if name in message), "image_size")


def _image_size(value: Any) -> list[int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise DomainError("params.image_size must be [height, width] in pixels, e.g. [64, 64]",
                          "params.image_size")
    return [int(v) for v in value]


def check_train_params(params: dict[str, Any]) -> dict[str, Any]:
    """Normalised training parameters; a DomainError naming the field to change otherwise."""
    rest = {k: v for k, v in params.items() if k not in ("image_size", *CHOICES, *FLAGS)}
    checked = TRAIN_NUMBERS(rest)
    checked["image_size"] = _image_size(params.get("image_size", [64, 64]))
    for name, allowed in CHOICES.items():
        checked[name] = params.get(name, allowed[0])
        if checked[name] not in allowed:
            raise DomainError(f"params.{name} must be one of {', '.join(allowed)}",
                              f"params.{name}")
    for name, default in FLAGS.items():
        checked[name] = params.get(name, default)
        if not isinstance(checked[name], bool):
            raise DomainError(f"params.{name} must be true or false", f"params.{name}")
    if checked["pmin"] >= checked["pmax"]:
        raise DomainError("params.pmin must be below params.pmax", "params.pmin")
    try:
        check_spec(spec_of(checked))
    except ValueError as error:
        raise DomainError(str(error), _field_of(str(error))) from error
    return check_start_params(checked)


def check_train_start(session, _dataset_id: int, params: dict[str, Any]) -> None:
    """Refuse before queueing a model to start from that cannot start this run."""
    check_init_model(session, "autoencoder_train", params)


def spec_of(params: dict[str, Any]) -> AutoencoderSpec:
    return AutoencoderSpec(image_size=tuple(params["image_size"]),
                           base_channels=params["base_channels"],
                           latent_dim=params["latent_dim"], depth=params["depth"])


def _start_from(context: JobContext):
    """The function that loads the init_model's weights into the new model (None: the run
    starts from random weights)."""
    from ml.autoencoder_train import load_model

    params = context.params
    if params["init_model"] is None:
        return None
    with context.session_factory() as session:
        path = weights_file(starting_job(session, "autoencoder_train", params["init_model"]))
    state = load_model(path).state_dict()
    encoder = ("frozen" if params["freeze_pretrained"] else
               f"at {params['pretrained_lr_scale']:g} × the learning rate")
    context.log(f"starting from the weights of model {params['init_model']}; encoder {encoder}")
    return lambda model: model.load_state_dict(state)


def run_autoencoder_train(context: JobContext) -> dict[str, Any]:
    from ml.autoencoder_train import TrainOptions, check_sample, save_model, train_autoencoder
    from ml.training import Augment

    params = context.params
    start_from = _start_from(context)
    context.log("reading the training images")
    loaded = context.load_images(context.items(), tuple(params["image_size"]),
                                 Transform.of(params))
    if len(loaded.item_ids) < 2:
        raise ValueError("fewer than 2 readable images: nothing to train on")
    options = TrainOptions(
        epochs=params["epochs"], batch_size=params["batch_size"],
        learning_rate=params["learning_rate"], optimizer=params["optimizer"],
        loss=params["loss"], val_share=params["val_share"], step_size=params["step_size"],
        gamma=params["gamma"], seed=params["seed"], patience=params["patience"],
        augment=Augment(params["hflip"], params["vflip"], params["jitter"]),
        augment_mode=params["augment_mode"], start_from=start_from,
        freeze_encoder=params["freeze_pretrained"],
        pretrained_lr_scale=params["pretrained_lr_scale"] or 1.0)
    context.log(f"training on {len(loaded.item_ids)} images ({len(loaded.failed)} unreadable)")

    def on_epoch(epoch: int, metrics: dict) -> None:
        context.report(epoch / options.epochs, {"epoch": epoch, **metrics})

    result = train_autoencoder(loaded.images, spec_of(params), options, on_epoch,
                               context.should_stop)
    if result.cancelled:
        raise JobCancelled()
    save_model(context.artifact_dir / "model.pt", result.model, spec_of(params))
    sample = np.linspace(0, len(loaded.item_ids) - 1, min(RECONSTRUCTION_PAIRS,
                                                          len(loaded.item_ids))).astype(int)
    pairs = _reconstruction_pairs(context, result.model, loaded.images[sample],
                                  [loaded.item_ids[i] for i in sample])
    collapse = check_sample(result.model, loaded.images, options.batch_size)
    if collapse.collapsed:
        context.log("warning: " + collapse.reason)
    return {"model": "model.pt", "images": len(loaded.item_ids), "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss, "stopped_early": result.stopped_early,
            "reconstructions": pairs, "collapse": collapse.to_dict(),
            "init_model": params["init_model"],
            "fine_tuning": fine_tuning_record(params, "encoder", kept="all weights")}


def _reconstruction_pairs(context: JobContext, model, images, item_ids) -> list[dict]:
    from ml.autoencoder_train import reconstruct
    from ml.reconstruction_files import save_pairs

    reconstructions, errors = reconstruct(model, images)
    return save_pairs(context.artifact_dir, item_ids, images, reconstructions, errors)


INFER_NUMBERS = params_checker({"model_job_id": Param(int, 0, 1, None),
                                "batch_size": Param(int, 256, 1, 4096)})


def check_infer_params(params: dict[str, Any]) -> dict[str, Any]:
    if "model_job_id" not in params:
        raise DomainError("params.model_job_id is required: the id of a finished "
                          "autoencoder_train job", "params.model_job_id")
    return INFER_NUMBERS(params)


def check_infer_model(session, _dataset_id: int, params: dict[str, Any]) -> None:
    """Refuse before queueing when the model job is not a finished training run (an
    autoencoder applies to any data set of images)."""
    finished_job(session, params["model_job_id"], "autoencoder_train")


def _model_job(context: JobContext, model_job_id: int):
    with context.session_factory() as session:
        return finished_job(session, model_job_id, "autoencoder_train")


def _infer(context: JobContext, model_job, items, batch_size: int):
    """(the model of ``model_job``, its ml.autoencoder_train.Inference of ``items``)."""
    from ml.autoencoder_train import infer_autoencoder, load_model

    model = load_model(Path(model_job.artifact_dir) / "model.pt")
    batches = context.batches(items, tuple(model_job.params["image_size"]),
                              Transform.of(model_job.params), batch_size)
    return model, infer_autoencoder(model, batches, context.should_stop)


def _extreme_reconstructions(context: JobContext, model, model_job, items, inference
                             ) -> list[dict]:
    """Pairs of the best and the worst reconstructed items: what the model learnt and
    what it finds unusual (often the interesting or broken images)."""

    order = np.argsort(inference.errors)
    half = RECONSTRUCTION_PAIRS // 2
    chosen = {int(inference.item_ids[i]) for i in (*order[:half], *order[-half:])}
    picked = [item for item in items if item.id in chosen]
    loaded = context.load_images(picked, tuple(model_job.params["image_size"]),
                                 Transform.of(model_job.params), for_training=False)
    pairs = _reconstruction_pairs(context, model, loaded.images, loaded.item_ids)
    return sorted(pairs, key=lambda pair: pair["error"])


def run_autoencoder_infer(context: JobContext) -> dict[str, Any]:
    model_job = _model_job(context, context.params["model_job_id"])
    items = context.items()
    model, inference = _infer(context, model_job, items, context.params["batch_size"])
    if context.should_stop():
        raise JobCancelled()
    np.save(context.artifact_dir / "latents.npy", inference.latents.astype(np.float32))
    np.save(context.artifact_dir / "item_ids.npy", np.asarray(inference.item_ids, np.int64))
    np.save(context.artifact_dir / "errors.npy", inference.errors.astype(np.float32))
    pairs = _extreme_reconstructions(context, model, model_job, items, inference)
    return {"items": len(inference.item_ids), "latent_dim": int(inference.latents.shape[1]),
            "model_job_id": model_job.id, "reconstructions": pairs,
            "collapse": inference.collapse_check().to_dict(),
            "files": {"latents": "latents.npy", "item_ids": "item_ids.npy",
                      "errors": "errors.npy"}}


def extension_rows(context: JobContext, job, items) -> dict[str, Any]:
    """Latents and reconstruction errors of ``items`` by the model of inference ``job``."""
    _model, inference = _infer(context, _model_job(context, job.params["model_job_id"]),
                               items, job.params["batch_size"])
    return {"item_ids": np.asarray(inference.item_ids, np.int64),
            "latents": inference.latents.astype(np.float32),
            "errors": inference.errors.astype(np.float32)}


register_kind(JobKind(
    name="autoencoder_train", queue="gpu", run=run_autoencoder_train,
    produces_model=True,
    check_params=check_train_params, estimate_memory=autoencoder_bytes,
    check_dataset=check_train_start,
    description="train a convolutional autoencoder on the data set's images (model.pt)"))
register_kind(JobKind(
    name="autoencoder_infer", queue="gpu", run=run_autoencoder_infer,
    check_params=check_infer_params, check_dataset=check_infer_model,
    extend=Extension(extension_rows,
                     lambda session, job: check_model_kept(session, job, "autoencoder_train")),
    description="latent vectors and reconstruction errors of every item "
                "(latents.npy, item_ids.npy, errors.npy)"))
