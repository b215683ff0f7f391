"""How well each feature source groups the true classes: the 10-NN same-class rate
(ml.separation, cosine) of every item's features against chance, per data set.

Every source runs as the app runs it: a job on a registered data set (in a throw-away
data home), with settings chosen from the images the way the labeling benchmark chooses
them (benchmarks/labeling_sets.py). The backbone reads a local weights file: ``--weights``,
or else a randomly initialised resnet18 saved here (there are no hub weights offline); its
folder is one of the data roots, as a lab lists the folder of its weights files in
BEAMLABEL_DATA_ROOTS, since a job reads a weights file only inside Settings.file_roots.

    python -m benchmarks.feature_separation [--datasets demo,mnist] [--json FILE]

Goal: the best source on each set reaches at least twice chance; exit 1 when missed.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from benchmarks.goals import verdict
from benchmarks.labeling_sets import DATASETS, DataSet

GOAL_OVER_CHANCE = 2.0
EIGHT_BIT = {"log": False, "pmin": 0.0, "pmax": 100.0}


class Runner:
    """One registered data set and the jobs run on it, in this process; ``weights_folder``
    (a folder of weights files) is a data root too, so jobs may read files there."""

    def __init__(self, home: Path, data: DataSet, weights_folder: Optional[Path] = None):
        from data.catalog import register_dataset, scan_dataset
        from db.session import open_database
        from settings import Settings

        roots = (data.folder,) + ((weights_folder,) if weights_folder is not None else ())
        self.settings = Settings(home=home / data.name, data_roots=roots)
        self.engine, self.session_factory = open_database(self.settings)
        self.dataset_id = register_dataset(self.session_factory, self.settings.data_roots,
                                           data.name, "directory", str(data.folder)).id
        scan_dataset(self.session_factory, self.dataset_id)

    def run(self, kind: str, params: dict) -> int:
        from db.models import Job
        from db.session import transaction
        from ml.jobs import create_job, execute_job

        with transaction(self.session_factory) as session:
            job_id = create_job(session, kind, self.dataset_id, params, "benchmark",
                                self.settings.file_roots).id
        status = execute_job(self.session_factory, self.settings.artifacts_dir, job_id)
        if status != "succeeded":
            with self.session_factory() as session:
                raise RuntimeError(f"{kind} job {status}: {session.get(Job, job_id).error}")
        return job_id

    def vectors(self, job_id: int) -> tuple[np.ndarray, np.ndarray]:
        from db.models import Job
        from ml.features import load_vectors

        with self.session_factory() as session:
            return load_vectors(session.get(Job, job_id))

    def truth(self, data: DataSet) -> dict[int, str]:
        from sqlalchemy import select

        from db.models import Item

        with self.session_factory() as session:
            items = session.execute(select(Item.id, Item.path).where(
                Item.dataset_id == self.dataset_id)).all()
        return {item_id: data.truth[path] for item_id, path in items if path in data.truth}


# ---------------------------------------------------------------- the sources

def _scale(data: DataSet) -> dict:
    return {key: data.autoencoder[key] for key in ("log", "pmin", "pmax")
            if key in data.autoencoder}


def _contrastive_params(data: DataSet, args) -> dict:
    eight_bit = data.autoencoder.get("log") is False
    views = ({"rotation": 15.0, "hflip": False, "vflip": False} if eight_bit else {})
    return {"image_size": data.autoencoder["image_size"][0], "depth": data.autoencoder["depth"],
            "epochs": args.contrastive_epochs, **views, **_scale(data)}


def scattering(runner: Runner, data: DataSet, args) -> int:
    return runner.run("scattering_features", {})


def autoencoder(runner: Runner, data: DataSet, args) -> int:
    trained = runner.run("autoencoder_train", data.autoencoder)
    return runner.run("autoencoder_infer", {"model_job_id": trained})


def contrastive(runner: Runner, data: DataSet, args) -> int:
    return runner.run("contrastive_features", _contrastive_params(data, args))


def backbone(runner: Runner, data: DataSet, args) -> int:
    return runner.run("backbone_features", {"model": args.backbone,
                                            "weights_path": str(args.weights),
                                            "image_size": args.backbone_size,
                                            **_scale(data)})


SOURCES: dict[str, Callable[[Runner, DataSet, argparse.Namespace], int]] = {
    "scattering_features": scattering, "autoencoder": autoencoder,
    "contrastive_features": contrastive, "backbone_features": backbone,
}


def random_weights(folder: Path, model_name: str) -> Path:
    """A seeded, randomly initialised state dict of ``model_name`` in a local file."""
    import timm
    import torch

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model_name}-random.pth"
    torch.save(timm.create_model(model_name, pretrained=False).state_dict(), path)
    return path


# ---------------------------------------------------------------- measuring

def measure(runner: Runner, data: DataSet, name: str, args) -> dict:
    from ml.separation import label_agreement

    start = time.perf_counter()
    job_id = SOURCES[name](runner, data, args)
    seconds = time.perf_counter() - start
    item_ids, vectors = runner.vectors(job_id)
    truth = runner.truth(data)
    classes = {label: index for index, label in enumerate(sorted(set(truth.values())))}
    labeled = np.array(sorted(truth))
    agreement = label_agreement(item_ids, np.asarray(vectors), labeled,
                                np.array([classes[truth[i]] for i in labeled]))
    return {"same_class_10nn": round(agreement.agreement, 4),
            "chance": round(agreement.chance, 4), "items": len(item_ids),
            "dimension": int(vectors.shape[1]), "seconds": round(seconds, 1)}


def measure_set(home: Path, data: DataSet, sources: list[str], args) -> dict[str, dict]:
    weights = args.weights.parent if "backbone_features" in sources else None
    runner = Runner(home, data, weights)
    figures = {}
    try:
        for name in sources:
            figures[name] = measure(runner, data, name, args)
            row = figures[name]
            print(f"  {name:<22} 10-NN same class {100 * row['same_class_10nn']:5.1f} %  "
                  f"(chance {100 * row['chance']:4.1f} %)  {row['items']} × {row['dimension']}"
                  f"  {row['seconds']:6.1f} s", flush=True)
    finally:
        runner.engine.dispose()
    return figures


def best_verdict(figures: dict[str, dict]) -> tuple[str, bool]:
    name = max(figures, key=lambda source: figures[source]["same_class_10nn"])
    best = figures[name]
    return name, best["same_class_10nn"] >= GOAL_OVER_CHANCE * best["chance"]


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="demo,mnist", help=f"of {', '.join(DATASETS)}")
    parser.add_argument("--sources", default=",".join(SOURCES), help="feature sources")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--weights", type=Path,
                        help="local weights file of --backbone (default: random weights)")
    parser.add_argument("--backbone", default="resnet18", help="a timm model name")
    parser.add_argument("--backbone-size", type=int, default=0,
                        help="backbone input side; 0: the model's own (224 for resnet18)")
    parser.add_argument("--contrastive-epochs", type=int, default=10)
    parser.add_argument("--autoencoder-epochs", type=int, default=8)
    parser.add_argument("--demo-images", type=int, default=1000)
    parser.add_argument("--demo5000-images", type=int, default=5000)
    parser.add_argument("--demo-size", type=int, default=128, help="demo image side (pixels)")
    parser.add_argument("--mnist-images", type=int, default=5000)
    args = parser.parse_args(argv)
    args.classifier_epochs, args.model = 1, "resnet18"  # labeling_sets asks for them
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    sources = args.sources.split(",")
    results, missed = {}, []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if args.weights is not None:
            args.weights = args.weights.expanduser().resolve()
        weights = str(args.weights)
        if "backbone_features" in sources and args.weights is None:
            args.weights = random_weights(root / "weights", args.backbone)
            weights = f"{args.backbone} randomly initialised (seed 0)"
        print(f"backbone weights: {weights}")
        for name in args.datasets.split(","):
            data = DATASETS[name](root, args)
            print(f"{name}: {len(data.truth)} images, {len(data.classes)} classes", flush=True)
            results[name] = measure_set(root / "homes", data, sources, args)
            best, ok = best_verdict(results[name])
            row = results[name][best]
            print(f"  best: {best} {100 * row['same_class_10nn']:.1f} % vs goal "
                  f"{GOAL_OVER_CHANCE:g} × chance = {200 * row['chance']:.1f} %  {verdict(ok)}")
            if not ok:
                missed.append(name)
    if args.json:
        args.json.write_text(json.dumps({"backbone_weights": weights, "sets": results},
                                        indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
