"""The ``contrastive_features`` job kind: train a self-supervised encoder on the data set's
images (ml.contrastive: views a detector image allows, NT-Xent loss), then store its
features of every readable item.

Files: features.npy (float32 n × latent_dim) and item_ids.npy, in the ml.features
contract, and encoder.pt (the encoder's weights, where a label_features job can start
from). torch is imported only when the job runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from data.transforms import Transform
from errors import DomainError
from ml.autoencoder_spec import AutoencoderSpec, check_spec
from ml.kinds.context import JobContext
from ml.kinds.spec import Extension, JobCancelled, JobKind, register_kind
from ml.memory_estimate import contrastive_bytes
from ml.params import Choice, Flag, Param, params_checker
from ml.training_choices import OPTIMIZER_NAMES

# epochs 0 (the default) lets the image side choose: the same training pixels per image
# (10 epochs at 64 px) whatever the side, so that a job costs about the same per image.
# Small images get more epochs, which they need: on 5,000 MNIST digits at 28 px, 50
# epochs gave 24.8 labels per action in the labeling benchmark against 23.6 at 10, for
# 80 s more.
AUTO_PIXELS_PER_IMAGE = 10 * 64 * 64
AUTO_EPOCHS = (10, 50)  # fewest, most
ENCODER_FILE = "encoder.pt"

SPEC = {
    "epochs": Param(int, 0, 0, 1000), "batch_size": Param(int, 128, 2, 4096),
    "learning_rate": Param(float, 1e-3, 1e-7, 1.0), "optimizer": Choice(OPTIMIZER_NAMES),
    "temperature": Param(float, 0.2, 0.01, 10.0),
    "image_size": Param(int, 64, 8, 1024),  # pixels per side
    "depth": Param(int, 3, 1, 6), "base_channels": Param(int, 8, 1, 256),
    "latent_dim": Param(int, 64, 2, 4096), "projection_dim": Param(int, 64, 2, 4096),
    "val_share": Param(float, 0.1, 0.01, 0.9), "seed": Param(int, 0, 0, 2**31 - 1),
    "patience": Param(int, 0, 0, 1000),
    # the views: what may change without changing what the image shows
    "rotation": Param(float, 180.0, 0.0, 180.0), "hflip": Flag(True), "vflip": Flag(True),
    "intensity": Param(float, 0.1, 0.0, 1.0), "counting_noise": Flag(True),
    "shift": Param(float, 0.05, 0.0, 0.5), "mask": Param(float, 0.5, 0.0, 1.0),
    "log": Flag(True), "pmin": Param(float, 1.0, 0.0, 100.0),
    "pmax": Param(float, 99.0, 0.0, 100.0),
}
NUMBERS = params_checker(SPEC)


def spec_of(params: dict[str, Any]) -> AutoencoderSpec:
    side = params["image_size"]
    return AutoencoderSpec(image_size=(side, side), base_channels=params["base_channels"],
                           latent_dim=params["latent_dim"], depth=params["depth"])


def automatic_epochs(image_size: int) -> int:
    fewest, most = AUTO_EPOCHS
    return min(max(round(AUTO_PIXELS_PER_IMAGE / image_size ** 2), fewest), most)


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Normalised parameters (epochs 0 replaced by the automatic count); a DomainError
    naming the field to change otherwise."""
    checked = NUMBERS(params)
    checked["epochs"] = checked["epochs"] or automatic_epochs(checked["image_size"])
    if checked["pmin"] >= checked["pmax"]:
        raise DomainError("params.pmin must be below params.pmax", "params.pmin")
    try:  # the numbers are in bounds, so only the image size can fail to fit the depth
        check_spec(spec_of(checked))
    except ValueError as error:
        raise DomainError(f"params.{error}", "params.image_size") from error
    return checked


def detector_views(params: dict[str, Any], mask: float):
    """The random views of an image its parameters allow (ml.detector_augment)."""
    from ml.detector_augment import DetectorAugment
    from ml.training import Augment

    geometry = Augment(hflip=params["hflip"], vflip=params["vflip"],
                       jitter=params["intensity"], rotation=params["rotation"])
    return DetectorAugment(geometry, params["counting_noise"], params["shift"], mask)


def _options(params: dict[str, Any]):
    from ml.contrastive import ContrastiveOptions

    return ContrastiveOptions(
        epochs=params["epochs"], batch_size=params["batch_size"],
        learning_rate=params["learning_rate"], optimizer=params["optimizer"],
        temperature=params["temperature"], val_share=params["val_share"],
        seed=params["seed"], patience=params["patience"],
        projection_dim=params["projection_dim"],
        augment=detector_views(params, params["mask"]))


def save_encoder(path, encoder) -> None:
    import torch

    torch.save(encoder.state_dict(), path)


def run_contrastive_features(context: JobContext) -> dict[str, Any]:
    from ml.contrastive import train_contrastive
    from ml.feature_extraction import encode_batches, in_batches
    from ml.features import write_features

    params, spec = context.params, spec_of(context.params)
    context.log("reading the training images")
    loaded = context.load_images(context.items(), spec.image_size, Transform.of(params))
    if len(loaded.item_ids) < 2:
        raise ValueError("fewer than 2 readable images: nothing to train on")
    context.log(f"training on {len(loaded.item_ids)} images ({len(loaded.failed)} unreadable)")

    def on_epoch(epoch: int, metrics: dict) -> None:
        # training is most of the work; the features of every item are the last tenth
        context.report(0.9 * epoch / params["epochs"], {"epoch": epoch, **metrics})

    trained = train_contrastive(loaded.images, spec, _options(params), on_epoch,
                                context.should_stop)
    if trained.run.cancelled:
        raise JobCancelled()
    item_ids, features = encode_batches(
        trained.model.encoder, in_batches(loaded.item_ids, loaded.images, params["batch_size"]),
        context.should_stop)
    if context.should_stop():
        raise JobCancelled()
    save_encoder(context.artifact_dir / ENCODER_FILE, trained.model.encoder)
    context.report(1.0)
    return {**write_features(context.artifact_dir, item_ids, features),
            "encoder": ENCODER_FILE, "images": len(loaded.item_ids),
            "unreadable": len(loaded.failed),
            "best_epoch": trained.run.best_epoch, "best_val_loss": trained.run.best_val_loss,
            "stopped_early": trained.run.stopped_early}


def extension_rows(context: JobContext, job, items) -> dict[str, Any]:
    """Features of ``items`` by the encoder the job trained (encoder.pt)."""
    import torch
    from torch import nn

    from ml.autoencoder import encoder_blocks
    from ml.feature_extraction import encode_batches

    spec = spec_of(job.params)
    encoder = nn.Sequential(encoder_blocks(spec))
    encoder.load_state_dict(torch.load(Path(job.artifact_dir) / job.result["encoder"],
                                       map_location="cpu", weights_only=True))
    batches = context.batches(items, spec.image_size, Transform.of(job.params),
                              job.params["batch_size"])
    item_ids, features = encode_batches(encoder, batches, context.should_stop)
    return {"item_ids": np.asarray(item_ids, np.int64),
            "features": np.asarray(features, np.float32)}


register_kind(JobKind(
    name="contrastive_features", queue="gpu", run=run_contrastive_features,
    check_params=check_params, estimate_memory=contrastive_bytes,
    extend=Extension(extension_rows),
    description="train a self-supervised encoder on views a detector image allows "
                "(rotation, flips, counting noise, shifts, masked gaps), then the features "
                "of every item (features.npy, item_ids.npy)"))
