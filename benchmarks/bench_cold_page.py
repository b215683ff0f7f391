"""The first (cold) page of the labeling page: 48 items and their thumbnails, none cached.

A folder of 256x256 16-bit TIFFs and one of the same images as 16-bit PNGs (200 demo
patterns copied to fill them) are registered and scanned in the real app (``python -m
app``, no worker); that app is stopped, its thumbnail cache emptied, and a fresh one
started on the same data home, as a labeler who opens a data set whose thumbnails were
never drawn at this size and colour map. After the page's layout and Dash's
dependencies (what the browser loads before asking for items), the time is taken from
the page-turn callback that asks for a page's items to the 48th thumbnail received, the
thumbnails fetched over 6 keep-alive connections as Chromium does over HTTP/1.1. Three
cold pages per format (the first, one in the middle, the last; the TIFFs' first page is
the first the fresh process renders, and pays its first imports and queries too); goal:
the median of each format <= 150 ms. Exits non-zero on a miss; ``--json FILE`` writes
the figures (seconds per page, and of each the part until the items' answer).

    python benchmarks/bench_cold_page.py [--images 1000] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tifffile  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.bench_gallery import page_values  # noqa: E402
from benchmarks.dash_requests import CONNECTIONS, PageRequests  # noqa: E402
from benchmarks.goals import verdict  # noqa: E402
from benchmarks.waiting import wait_until  # noqa: E402
from data.demo import generate_demo  # noqa: E402
from settings import Settings  # noqa: E402
from tests.browser import call_api, launched_app  # noqa: E402

TILES = 48
GOAL_S = 0.150
PATTERNS = 200
FORMATS = ("tif", "png")


def make_folders(root: Path, n_images: int) -> dict[str, Path]:
    """``n_images`` 256x256 16-bit images per format, in one folder per format."""
    patterns = root / "patterns"
    generate_demo(patterns, n_images=PATTERNS, size=256, seed=7)
    arrays = [tifffile.imread(path) for path in sorted(patterns.rglob("*.tif"))]
    assert all(a.dtype == np.uint16 for a in arrays)
    folders = {}
    for fmt in FORMATS:
        payloads = []
        for array in arrays:
            path = root / f"pattern.{fmt}"
            if fmt == "tif":
                tifffile.imwrite(path, array)
            else:
                Image.fromarray(array).save(path)
            payloads.append(path.read_bytes())
        folders[fmt] = root / f"images_{fmt}"
        for i in range(n_images):
            sub = folders[fmt] / f"run_{i // 1000:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"img_{i:06d}.{fmt}").write_bytes(payloads[i % PATTERNS])
    shutil.rmtree(patterns)
    return folders


def cold_page(browser: PageRequests, dataset_id: int, page: int) -> tuple[float, float]:
    """Seconds from asking for page ``page``'s items to their answer, and to the last
    thumbnail received."""
    start = time.perf_counter()
    answer = browser.callback("label-grid.children", page_values(dataset_id, page),
                              "label-page.value")
    items_s = time.perf_counter() - start
    urls = re.findall(r'"(/thumbs/\d+\.png\?[^"]+)"',
                      json.dumps(answer["response"]["label-grid"]))
    assert len(urls) == TILES, f"{len(urls)} thumbnails on the page"
    browser.fetch_all(urls, b"\x89PNG")
    return items_s, time.perf_counter() - start


def register(app: str, folders: dict[str, Path]) -> dict[str, int]:
    """Each folder registered as a data set and scanned: data set id by format."""
    ids = {fmt: call_api(app, "/api/v1/datasets", {
        "name": fmt, "source": {"kind": "directory", "path": str(folder)}})["id"]
        for fmt, folder in folders.items()}
    for dataset_id in ids.values():
        wait_until(lambda: call_api(app, f"/api/v1/datasets/{dataset_id}")["status"] == "ready",
                   300, f"the scan of data set {dataset_id}")
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="images per format")
    parser.add_argument("--connections", type=int, default=CONNECTIONS,
                        help="connections the thumbnails are fetched over")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    last_page = args.images // TILES
    pages = (1, max(1, last_page // 2), last_page)
    times: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folders = make_folders(tmp, args.images)
        settings = Settings(home=tmp / "home", data_roots=(tmp,), tagger="bench")
        with launched_app(settings, tmp, with_worker=False) as app:
            ids = register(app, folders)
        cache = Path(settings.cache_url[len("filesystem://"):])
        shutil.rmtree(cache, ignore_errors=True)  # the scans may have drawn some
        with launched_app(settings, tmp, with_worker=False) as app:
            browser = PageRequests(app, "/label", args.connections)
            try:
                for fmt, dataset_id in ids.items():
                    times[fmt] = [cold_page(browser, dataset_id, page) for page in pages]
            finally:
                browser.close()
    figures = {"goal_s": GOAL_S, "pages": list(pages)}
    missed = []
    for fmt, pairs in times.items():
        items, seconds = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
        median = statistics.median(seconds)
        figures.update({f"cold_page_{fmt}_s": median, f"cold_pages_{fmt}_s": seconds,
                        f"items_answer_{fmt}_s": items})
        ok = median <= GOAL_S
        missed += [] if ok else [fmt]
        print(f"cold page of {TILES} {fmt.upper()} thumbnails: median {median * 1000:.0f} ms "
              f"(pages {', '.join(f'{s * 1000:.0f}' for s in seconds)} ms, of which the "
              f"items' answer {', '.join(f'{s * 1000:.0f}' for s in items)} ms; goal <= "
              f"{GOAL_S * 1000:.0f} ms)  {verdict(ok)}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
