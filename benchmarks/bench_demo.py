"""10,000 demo images of 256x256 (16-bit TIFF) into a temporary folder in under 30 s.

Uses every CPU, as ``generate_demo`` does by default. Exits non-zero on a miss.

    python benchmarks/bench_demo.py [--n 10000] [--size 256]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from data.demo import generate_demo  # noqa: E402

GOAL_SECONDS = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate_demo(Path(tmp), n_images=args.n, size=args.size, seed=0)
        seconds = time.perf_counter() - start
    ok = seconds < GOAL_SECONDS
    print(f"{args.n} demo images of {args.size}x{args.size}: {seconds:.1f} s, "
          f"{args.n / seconds:.0f} images/s  (goal < {GOAL_SECONDS:.0f} s)  "
          f"{'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
