"""The header scan of 20,000 small PNGs and of 20,000 small TIFFs, after registering them.

The app is started as the launcher starts it (with the thumbnail route's workers, whose
forkserver the scan's workers fork from); its own scan (``Services.start_scan``: worker
processes that read each header and render the label page's default thumbnail into the
thumbnail cache) runs until the data set is ready; goals: PNGs under 8 s, TIFFs under
12 s. Then the first page's 48 thumbnails must be in the cache, and the route must answer
them with those bytes. Prints the figures; exits non-zero on a miss.

    python benchmarks/bench_scan.py [--files 20000] [--workers N] [--headers-only] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import tifffile
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.folders import copies_folder  # noqa: E402

from api.thumbnail_renders import renders_of, start_renders  # noqa: E402
from app import create_server  # noqa: E402
from benchmarks.goals import verdict  # noqa: E402
from callbacks.common import thumbnail_url  # noqa: E402
from data.catalog import dataset_summaries, register_dataset  # noqa: E402
from data.thumbnails import DEFAULT_THUMBNAIL  # noqa: E402
from db.store import items_page  # noqa: E402
from settings import Settings  # noqa: E402

GOAL_SECONDS = {"png": 8.0, "tif": 12.0}
IMAGE_SIDE = 64
FIRST_PAGE = 48


def write_image(path: Path, suffix: str) -> None:
    values = np.random.default_rng(0).integers(0, 4000, (IMAGE_SIDE, IMAGE_SIDE))
    if suffix == "tif":
        tifffile.imwrite(path, values.astype(np.uint16))
    else:
        Image.fromarray((values // 16).astype(np.uint8)).save(path)


def write_folder(folder: Path, n_files: int, suffix: str) -> None:
    copies_folder(folder, n_files, suffix, lambda path: write_image(path, suffix))


def children_cpu() -> float:
    """CPU seconds of this process's children that have ended, and of its descendants that
    run (the scan's workers are the forkserver's children)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = 0.0
    for process in psutil.Process().children(recursive=True):
        try:
            times = process.cpu_times()
        except psutil.Error:  # ended since it was listed
            continue
        running += times.user + times.system
    return usage.ru_utime + usage.ru_stime + running


def started_as_launched(server) -> None:
    """What the launcher does before serving: start the thumbnail route's workers, whose
    forkserver (data.worker_processes) the scan's workers fork from too; a data set is
    registered in a running app."""
    start_renders(server)
    renders, deadline = renders_of(server), time.monotonic() + 120
    while not renders.ready and time.monotonic() < deadline:
        time.sleep(0.05)


def first_page_hits(server, services, dataset_id: int) -> int:
    """How many of the first page's default thumbnails the scan left in the cache, each
    also answered by the route with the same bytes."""
    with services.session_factory() as session:
        ids = [row.id for row in items_page(session, dataset_id, limit=FIRST_PAGE)]
    client, hits = server.test_client(), 0
    for item_id in ids:
        cached = services.cache.get(DEFAULT_THUMBNAIL.cache_key(item_id))
        answer = client.get(thumbnail_url(item_id, DEFAULT_THUMBNAIL.size,
                                          DEFAULT_THUMBNAIL.transform.log, (1, 99), "gray"))
        hits += cached is not None and answer.status_code == 200 and answer.data == cached
    return hits


def scan_once(tmp: Path, suffix: str, n_files: int, workers: int | None,
              headers_only: bool) -> dict:
    folder = tmp / suffix
    write_folder(folder, n_files, suffix)
    extra = {} if workers is None else {"scan_workers": workers}
    if headers_only:  # a null cache keeps nothing, so the scan renders nothing ahead
        extra["cache_url"] = "null://"
    settings = Settings(home=tmp / f"home_{suffix}", data_roots=(tmp,), **extra)
    server = create_server(settings)
    services = server.extensions["beamlabel"]
    started_as_launched(server)
    start = time.perf_counter()
    dataset = register_dataset(services.session_factory, settings.data_roots, suffix,
                               "directory", str(folder))
    registered = time.perf_counter() - start
    start, own_cpu, workers_cpu = time.perf_counter(), time.process_time(), children_cpu()
    services.start_scan(dataset.id).result()
    scanned = time.perf_counter() - start
    own_cpu = time.process_time() - own_cpu
    with services.session_factory() as session:
        summary, = dataset_summaries(session, dataset.id)
    workers_cpu = children_cpu() - workers_cpu
    hits = 0 if headers_only else first_page_hits(server, services, dataset.id)
    services.scan_pool.close()
    return {"files": n_files, "workers": settings.scan_workers, "register_s": registered,
            "scan_s": scanned, "status": summary.status,
            "scanned_files": summary.scanned_files, "first_page_hits": hits,
            "goal_s": GOAL_SECONDS[suffix], "workers_cpu_ms_per_file": 1000 * workers_cpu / n_files,
            "app_cpu_ms_per_file": 1000 * own_cpu / n_files}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=None,
                        help="scan worker processes (default: the setting, i.e. the cores)")
    parser.add_argument("--headers-only", action="store_true",
                        help="with a null cache: the headers alone, no thumbnails rendered")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures here")
    args = parser.parse_args()
    figures, missed = {}, []
    for suffix in ("png", "tif"):
        with tempfile.TemporaryDirectory() as tmp:
            result = scan_once(Path(tmp), suffix, args.files, args.workers, args.headers_only)
        figures[suffix] = result
        ok = (result["scan_s"] < result["goal_s"] and result["status"] == "ready"
              and result["scanned_files"] == args.files
              and (args.headers_only or result["first_page_hits"] == FIRST_PAGE))
        missed += [] if ok else [suffix]
        what = "headers only" if args.headers_only else "headers + default thumbnails"
        print(f"{suffix}: registered {args.files:,} in {result['register_s']:.2f} s; scanned "
              f"({what}, {result['workers']} workers) in "
              f"{result['scan_s']:.2f} s ({args.files / result['scan_s']:,.0f} files/s; goal < "
              f"{result['goal_s']:.0f} s); first page cached {result['first_page_hits']}/"
              f"{FIRST_PAGE}  {verdict(ok)}\n     CPU per file: "
              f"{result['workers_cpu_ms_per_file']:.2f} ms in the workers, "
              f"{result['app_cpu_ms_per_file']:.2f} ms in the app")
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "missed": missed}, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
