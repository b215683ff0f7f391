"""Tagging-event store at scale, on SQLite and PostgreSQL.

1,000,000 items; one event labeling 50,000 of them must take under 1.0 s; the per-label
counts and a 100-item page of one label under 50 ms each. Exits non-zero on a miss.

    python benchmarks/bench_store.py [--items 1000000] [--tags 50000] [--skip-postgres]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import check_times, exit_code  # noqa: E402
from data.catalog import insert_items  # noqa: E402
from data.sources.base import Listing  # noqa: E402
from db.labels import create_label  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Dataset  # noqa: E402
from db.session import make_engine, make_session_factory, transaction  # noqa: E402
from db.store import TagIn, apply_event, items_page, label_counts  # noqa: E402
from tests.databases import create_postgres_schema  # noqa: E402

GOALS = {"apply 50k": 1.0, "counts": 0.050, "label page": 0.050}


def best_of(repeats: int, function) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def run(url: str, n_items: int, n_tags: int) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    session_factory = make_session_factory(engine)
    start = time.perf_counter()
    with transaction(session_factory) as session:
        dataset = Dataset(name="bench", source_kind="directory", location="/bench",
                          status="ready")
        session.add(dataset)
        session.flush()
        insert_items(session, dataset.id,
                     (Listing(f"run_{i // 1000:04d}/img_{i:07d}.tif") for i in range(n_items)))
        labels = [create_label(session, dataset.id, name).id for name in ("ring", "peak")]
        dataset_id = dataset.id
    print(f"  set-up: {n_items:,} items in {time.perf_counter() - start:.1f} s")
    with session_factory() as session:
        first_ids = [row.id for row in items_page(session, dataset_id, limit=n_tags * 2)]
    # Background labels, so counts and pages run over a realistic table.
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "bench", "manual",
                    [TagIn(i, labels[1]) for i in first_ids[n_tags:]])
    tags = [TagIn(i, labels[0], 0.9) for i in first_ids[:n_tags]]

    def apply():
        with transaction(session_factory) as session:
            apply_event(session, dataset_id, "bench", "similarity", tags, {"bench": True})

    figures = {"apply 50k": best_of(1, apply)}
    with session_factory() as session:
        figures["counts"] = best_of(5, lambda: label_counts(session, dataset_id))
        middle = n_tags // 200
        figures["label page"] = best_of(5, lambda: items_page(
            session, dataset_id, offset=middle * 100, limit=100, label_id=labels[0]))
        assert label_counts(session, dataset_id).per_label[labels[0]] == n_tags
    engine.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=50_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    missed = []
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", lambda: None)]
        if not args.skip_postgres:
            backends.append(("PostgreSQL", *create_postgres_schema()))
        for name, url, drop in backends:
            print(f"{name}:")
            try:
                figures = run(url, args.items, args.tags)
            finally:
                drop()
            missed += [f"{name} {what}" for what in check_times(figures, GOALS, "  ")]
    return exit_code(missed)


if __name__ == "__main__":
    raise SystemExit(main())
