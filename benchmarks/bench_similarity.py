"""Exact cosine top-k ranking (ml.similarity.rank) at the scales the label page must handle.

Goals (median of the timed repeats, one query each, with the labeled items left out):
- 1,000,000 vectors of dimension 256, top 100: under 150 ms;
- 100,000 vectors of dimension 500, top 100: under 30 ms.
Each ranking is checked against a full sort of the same scores. Also prints the time to
build the normalised in-memory matrix (once per feature job) and its size, and (no goal)
what the gallery's request costs end to end: ``ml.rankings.similar`` on a SQLite data set of
200,000 items, 10 % labeled, reading the labeled ids from the database each time. Exits
non-zero when a goal is missed.

    python benchmarks/bench_similarity.py [--repeats 9] [--k 100] [--database-items 200000]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import check_times  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.session import make_engine, make_session_factory, transaction  # noqa: E402
from db.store import TagIn, apply_event  # noqa: E402
from ml import rankings  # noqa: E402
from ml.similarity import IndexCache, build_index, rank  # noqa: E402
from tests.databases import make_dataset  # noqa: E402
from tests.feature_jobs import make_feature_job  # noqa: E402

SCALES = {"1,000,000 x 256": (1_000_000, 256, 0.150), "100,000 x 500": (100_000, 500, 0.030)}
LABELED_SHARE = 0.05


def clustered_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Vectors around 50 centres, like the latents of a data set with a few kinds of image."""
    centres = rng.standard_normal((50, dim), dtype=np.float32)
    vectors = centres[rng.integers(0, 50, n)]
    vectors += 0.5 * rng.standard_normal((n, dim), dtype=np.float32)
    return vectors


def measure(n: int, dim: int, k: int, repeats: int, rng: np.random.Generator) -> float:
    vectors = clustered_vectors(n, dim, rng)
    started = time.perf_counter()
    index = build_index(np.arange(n, dtype=np.int64), vectors)
    built = time.perf_counter() - started
    del vectors
    print(f"  built the normalised matrix in {built:.2f} s "
          f"({index.nbytes / 2**20:,.0f} MiB in memory)")
    labeled = rng.choice(n, int(n * LABELED_SHARE), replace=False)
    times = []
    for _ in range(repeats):
        queries = rng.integers(0, n, 3)
        started = time.perf_counter()
        ranking = rank(index, queries, limit=k, exclude_item_ids=labeled, match="mean")
        times.append(time.perf_counter() - started)
    scores = index.matrix @ index.matrix[queries].mean(axis=0)
    scores[labeled] = -np.inf
    expected = np.sort(scores)[::-1][:k]
    got = scores[ranking.item_ids]
    if not np.allclose(got, expected, atol=1e-5) or len(set(ranking.item_ids.tolist())) != k:
        raise SystemExit("the ranking differs from a full sort")
    print(f"  {repeats} queries: min {min(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms; equal to a full sort")
    return statistics.median(times)


def measure_with_database(n: int, repeats: int, rng: np.random.Generator) -> None:
    folder = Path(tempfile.mkdtemp())
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    dataset_id, ids, labels = make_dataset(factory, n, ("a",))
    job_id = make_feature_job(factory, dataset_id, folder, ids,
                              clustered_vectors(n, 256, rng))
    with transaction(factory) as session:
        apply_event(session, dataset_id, "bench", "manual",
                    [TagIn(int(i), labels["a"]) for i in rng.choice(ids, n // 10, False)])
    cache, times = IndexCache(), []
    with factory() as session:
        rankings.similar(session, cache, dataset_id, job_id, [ids[0]], True, 48)  # builds
        for _ in range(repeats):
            started = time.perf_counter()
            rankings.similar(session, cache, dataset_id, job_id, [int(rng.choice(ids))],
                             True, 48)
            times.append(time.perf_counter() - started)
    engine.dispose()
    print(f"similar(), SQLite, {n:,} items x 256, {n // 10:,} labeled, a page of 48: "
          f"median {statistics.median(times) * 1000:.1f} ms (no goal)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--database-items", type=int, default=200_000,
                        help="items of the end-to-end measurement (0: skip it)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    figures, goals = {}, {}
    for name, (n, dim, goal) in SCALES.items():
        print(f"{name}, top {args.k}, {LABELED_SHARE:.0%} of the items labeled (left out):")
        figures[f"rank {name}"] = measure(n, dim, args.k, args.repeats, rng)
        goals[f"rank {name}"] = goal
    if args.database_items:
        measure_with_database(args.database_items, args.repeats, rng)
    missed = check_times(figures, goals)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
