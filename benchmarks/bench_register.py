"""Registering a folder of 100,000 small images must take under 30 s.

Registration lists the files and inserts their items; it opens no file (headers are read
afterwards in the background). Prints the figures; exits non-zero when the goal is missed.

    python benchmarks/bench_register.py [--files 100000]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.folders import copies_folder  # noqa: E402
from data.catalog import register_dataset  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.session import make_engine, make_session_factory  # noqa: E402
from db.store import count_items  # noqa: E402

GOAL_SECONDS = 30.0


def write_folder(folder: Path, n_files: int) -> None:
    """Small 16x16 uint16 TIFFs, 1,000 per sub-folder (one encoded, the rest copies)."""
    copies_folder(folder, n_files, "tif", lambda path: tifffile.imwrite(
        path, np.arange(256, dtype=np.uint16).reshape(16, 16)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        start = time.perf_counter()
        write_folder(folder, args.files)
        print(f"wrote {args.files:,} files in {time.perf_counter() - start:.1f} s")
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        session_factory = make_session_factory(engine)
        start = time.perf_counter()
        dataset = register_dataset(session_factory, [Path(tmp)], "bench", "directory",
                                   str(folder))
        seconds = time.perf_counter() - start
        with session_factory() as session:
            assert count_items(session, dataset.id) == args.files
        engine.dispose()
    ok = seconds < GOAL_SECONDS
    print(f"registered {args.files:,} files in {seconds:.2f} s "
          f"({args.files / seconds:,.0f} files/s; goal < {GOAL_SECONDS:.0f} s)  "
          f"{'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
