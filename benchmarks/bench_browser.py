"""The browser goals of issue 15 in one run: labeling from the keyboard on the label page
(benchmarks/browser_labeling.py) and hover, lasso and box selection in the explorer at
10,000 and 100,000 points (benchmarks/browser_explorer.py), all in headless Chromium with
real key and pointer events.

Prints each figure with its goal, exits non-zero when one is missed; ``--json FILE``
writes the figures (``key_to_tile_p95_ms``, ``next_page_ms``, ``lasso_selected``,
``lasso_expected``, ``hover_thumbnail`` of the largest explorer, and under ``explorer``
those of each point count).

    python benchmarks/bench_browser.py [--points 10000,100000] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.browser_explorer import measure_explorer, passed  # noqa: E402
from benchmarks.browser_labeling import measure_labeling, missed_goals  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", default="10000,100000",
                        help="explorer sizes, comma-separated")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    labeling = measure_labeling()
    missed = [f"labeling {name}" for name in missed_goals(labeling)]
    print(f"key -> tile p95 {labeling['key_to_tile_p95_ms']:.0f} ms (goal <= 100), next page "
          f"{labeling['next_page_ms']:.0f} ms (goal <= 300), sustained "
          f"{labeling['sustained_labels_per_s']:.2f} labels/s (goal >= 3), layout shift "
          f"{labeling['layout_shift']}")
    figures = {**labeling, "explorer": {}}
    for points in (int(value) for value in args.points.split(",")):
        explorer = measure_explorer(points)
        figures["explorer"][str(points)] = explorer
        print(f"explorer at {points:,} points: hover thumbnail {explorer['hover_thumbnail']}, "
              f"lasso {explorer['lasso_selected']}/{explorer['lasso_expected']} "
              f"(ids equal {explorer['lasso_equal']}), box "
              f"{explorer['box_selected']}/{explorer['box_expected']} "
              f"(ids equal {explorer['box_equal']})")
        if not passed(explorer):
            missed.append(f"explorer at {points} points")
    largest = figures["explorer"][str(max(int(n) for n in figures["explorer"]))]
    figures.update({name: largest[name]  # the hardest size, at the top level as well
                    for name in ("lasso_selected", "lasso_expected", "hover_thumbnail")})
    print("goals missed: " + ", ".join(missed) if missed else "all goals met")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
