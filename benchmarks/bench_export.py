"""CSV and JSON export of 10,000 and 100,000 labels, on SQLite and PostgreSQL.

Each data set has twice as many items as labels (every other item is labeled). Its items
are inserted as data.catalog registers a folder (``insert_items``) and labeled as the app
labels (``db.store.apply_event``): ten bulk events, one of them a model's with confidences,
then single-item relabels by hand; one class has a formula-like name. A figure is the
whole export handed out and encoded as the route sends it, the best of 3.

Goals: CSV of 10k labels under 80 ms (issue 18), CSV and JSON of 100k labels under 1 s
(bench_million's export goal). Exits 1 on a miss.

    python benchmarks/bench_export.py [--skip-postgres] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.goals import check_times, exit_code  # noqa: E402
from data.catalog import insert_items  # noqa: E402
from data.export import export_csv, export_json  # noqa: E402
from data.sources.base import Listing  # noqa: E402
from db.labels import create_label  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Dataset  # noqa: E402
from db.session import make_engine, make_session_factory, transaction  # noqa: E402
from db.store import TagIn, apply_event, items_page  # noqa: E402
from tests.databases import create_postgres_schema  # noqa: E402

SIZES = {"10k": 10_000, "100k": 100_000}
EXPORTS = {"csv": export_csv, "json": export_json}
GOALS = {"csv 10k": 0.080, "json 10k": 0.080, "csv 100k": 1.0, "json 100k": 1.0}
LABEL_NAMES = ("ring", "peak", "=streak", "halo")
BULK_EVENTS = 10
REPEATS = 3


def analyze(session_factory) -> None:
    """Give PostgreSQL's planner the tables' statistics, as autovacuum (on by default) does
    within a minute of a bulk load; the test server runs without it, and its plans for
    never-analyzed tables made labeling 100k items here take over 10 minutes."""
    with transaction(session_factory) as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("ANALYZE items, tags, current_labels, tagging_events"))


def labeled_dataset(session_factory, name: str, n_labels: int) -> int:
    """A data set of 2 × ``n_labels`` items with every other one labeled; its id."""
    with transaction(session_factory) as session:
        dataset = Dataset(name=name, source_kind="directory", location=f"/bench/{name}",
                          status="ready")
        session.add(dataset)
        session.flush()
        insert_items(session, dataset.id, (Listing(f"run_{i // 1000:04d}/img_{i:07d}.tif")
                                           for i in range(2 * n_labels)))
        labels = [create_label(session, dataset.id, label).id for label in LABEL_NAMES]
        dataset_id = dataset.id
    analyze(session_factory)
    with session_factory() as session:
        labeled = [row.id for row in items_page(session, dataset_id, limit=2 * n_labels)][::2]
    per_event = -(-n_labels // BULK_EVENTS)
    for event in range(BULK_EVENTS):
        by_model = event == BULK_EVENTS // 2
        tags = [TagIn(item, labels[(event + n) % len(labels)],
                      (n % 100) / 100 if by_model else None)
                for n, item in enumerate(labeled[event * per_event:(event + 1) * per_event])]
        with transaction(session_factory) as session:
            apply_event(session, dataset_id, "model" if by_model else "ana",
                        "probability" if by_model else "manual", tags)
    for n, item in enumerate(labeled[::200]):  # relabels, one item per event
        with transaction(session_factory) as session:
            apply_event(session, dataset_id, "ben", "manual",
                        [TagIn(item, labels[n % len(labels)])])
    analyze(session_factory)
    return dataset_id


def export_seconds(export, session_factory, dataset_id: int) -> tuple[float, int]:
    """The best time of ``REPEATS`` whole exports, and the export's size in bytes."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        size = sum(len(piece.encode()) for piece in export(session_factory, dataset_id))
        times.append(time.perf_counter() - start)
    return min(times), size


def run(url: str) -> dict[str, float]:
    engine = make_engine(url)
    upgrade(engine)
    session_factory = make_session_factory(engine)
    figures = {}
    try:
        for size_name, n_labels in SIZES.items():
            start = time.perf_counter()
            dataset_id = labeled_dataset(session_factory, size_name, n_labels)
            print(f"  set-up: {2 * n_labels:,} items, {n_labels:,} labeled in "
                  f"{time.perf_counter() - start:.1f} s")
            for export_name, export in EXPORTS.items():
                seconds, size = export_seconds(export, session_factory, dataset_id)
                figures[f"{export_name} {size_name}"] = seconds
                print(f"  {export_name} {size_name}: {size / 1e6:.1f} MB, "
                      f"{n_labels / seconds / 1e6:.2f} M labels/s")
    finally:
        engine.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    results, missed = {}, []
    with tempfile.TemporaryDirectory() as folder:
        backends = [("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", lambda: None)]
        if not args.skip_postgres:
            backends.append(("PostgreSQL", *create_postgres_schema()))
        for name, url, drop in backends:
            print(f"{name}:")
            try:
                results[name] = run(url)
            finally:
                drop()
            missed += [f"{name} {what}"
                       for what in check_times(results[name], GOALS, "  ")]
    if args.json:
        args.json.write_text(json.dumps({"seconds": results, "goals": GOALS,
                                         "missed": missed}, indent=2))
    return exit_code(missed)


if __name__ == "__main__":
    raise SystemExit(main())
