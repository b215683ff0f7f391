"""A million images end to end, through the real app as ``beamlabel`` starts it.

The app (``python -m app``: the web process, its header-scan processes and its local
Celery worker; SQLite and the local thumbnail cache in a temporary data home) serves
``--count`` 64-pixel demo images: ``--distinct`` of them drawn by data.demo, hard-linked
to reach the count (links cost directory entries, not image bytes), 2,000 per sub-folder.
Over REST and the pages' own Dash callbacks, as a browser asks:

1. register the folder: from the request to the first items page listing every item;
2. the background scan until the data set is ready (every header read, the label page's
   default thumbnails rendered);
3. pages at the start, middle and end, cold then warm (the second request): the REST
   items page of 48, and the label page's page-turn callback with its 48 thumbnails
   fetched over 6 connections;
4. label ``--labels`` items (spread over the data set) in 10 REST events;
5. counts: the REST current-labels route's counts (and, without a goal, the label page's
   progress callback, which also lists the newest events);
6. export of the labels, CSV and JSON, streamed by the export route (read to the end);
7. a similarity query over ``--count`` × 256 float32 vectors, written as a finished
   feature job (tests.feature_jobs), through the REST similar route (the first builds
   the index; the second is warm);
8. a PCA projection job of those vectors (fit on a 20,000 sample, the rest placed in
   chunks; heat-map images of a sample of the items) run by the worker, then the
   explorer's callbacks: the whole (zoomed-out) view, a lasso over it and the heat map of
   its selection.

Prints each time and the peak resident memory of the web process, the worker and the scan
processes (benchmarks/process_memory.py). Goals (exit 1 on a miss): register <= 30 s,
scan <= 600 s, every warm page <= 150 ms, counts <= 50 ms, each export <= 1 s, web
process <= 2 GiB. Refuses to start when the disk lacks the room or the inodes for it.

    python benchmarks/bench_million.py [--count 1000000] [--json FILE] [--workdir DIR]
                                       [--scan-timeout SECONDS]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_explorer import lasso_around  # noqa: E402
from benchmarks.bench_gallery import page_values  # noqa: E402
from benchmarks.dash_requests import PageRequests  # noqa: E402
from benchmarks.goals import verdict  # noqa: E402
from benchmarks.labeling_oracle import RestClient  # noqa: E402
from benchmarks.process_memory import PeakMemory, launched_child  # noqa: E402
from benchmarks.waiting import wait_until  # noqa: E402
from data.demo import demo_path, generate_demo  # noqa: E402
from data.demo_patterns import DEMO_CLASSES  # noqa: E402
from db.models import Item, Job  # noqa: E402
from db.session import open_database  # noqa: E402
from ml.projection_view import inside_polygon  # noqa: E402
from settings import Settings  # noqa: E402
from tests.browser import launched_app  # noqa: E402  (the launcher as the tests start it)
from tests.feature_jobs import make_feature_job  # noqa: E402

IMAGE_SIDE = 64
FILES_PER_FOLDER = 2000
MAX_LINKS = 60_000  # hard links to one file (ext4 allows 65,000)
TILES = 48
EVENTS = 10
FEATURES = 256
FIT_SAMPLE = 20_000
GIB = 2 ** 30
GOALS = {"register_s": 30.0, "scan_s": 600.0, "page_warm_s": 0.150, "counts_s": 0.050,
         "export_s": 1.0, "web_rss_bytes": 2 * GIB}
# Disk per item beyond the distinct images: its default thumbnail in the thumbnail cache
# (a row of about 6 KB), 2 × 1 KiB of float32 features (the vectors written, then the
# job's copy), the database rows and indexes, projection files, directory entries.
BYTES_PER_ITEM = 16 * 1024
INODES_PER_ITEM = 0  # hard links share the image's inode; thumbnails share one file
SCAN_TIMEOUT_S = 3 * GOALS["scan_s"]  # --scan-timeout: on a loaded machine, wait longer
JOB_TIMEOUT_S = 3600


# -- the images ----------------------------------------------------------------------------

def check_room(workdir: Path, count: int, distinct: int) -> None:
    """Refuse, saying what is missing, when ``count`` items will not fit in ``workdir``."""
    image_bytes = 2 * IMAGE_SIDE ** 2 + 4096
    need_bytes = distinct * image_bytes + count * BYTES_PER_ITEM
    need_inodes = distinct + count * INODES_PER_ITEM + count // FILES_PER_FOLDER + 1000
    free = shutil.disk_usage(workdir).free
    space = os.statvfs(workdir)
    if need_bytes > free:
        raise SystemExit(f"{count:,} items need about {need_bytes / GIB:.1f} GiB in {workdir} "
                         f"(images, thumbnails, features, database); {free / GIB:.1f} GiB are "
                         "free: free some or choose another --workdir")
    if space.f_files and need_inodes > space.f_favail:
        raise SystemExit(f"{count:,} items need about {need_inodes:,} inodes in {workdir} "
                         f"(a thumbnail file each); {space.f_favail:,} are free: choose "
                         "another --workdir")
    print(f"room: about {need_bytes / GIB:.1f} GiB and {need_inodes:,} inodes needed, "
          f"{free / GIB:.1f} GiB and {space.f_favail:,} free")


def make_images(root: Path, count: int, distinct: int) -> Path:
    """``count`` demo images in ``root/images``: ``distinct`` drawn, the rest hard links."""
    patterns = root / "patterns"
    distinct = min(distinct, count)
    generate_demo(patterns, n_images=distinct, size=IMAGE_SIDE, seed=0)
    sources = [str(patterns / demo_path(i)) for i in range(distinct)]
    folder = root / "images"
    for start in range(0, count, FILES_PER_FOLDER):
        sub = folder / f"run_{start // FILES_PER_FOLDER:04d}"
        sub.mkdir(parents=True)
        for i in range(start, min(start + FILES_PER_FOLDER, count)):
            os.link(sources[i % distinct], sub / f"img_{i:07d}.tif")
    return folder


# -- timing --------------------------------------------------------------------------------

def timed(function: Callable, *args):
    start = time.perf_counter()
    value = function(*args)
    return time.perf_counter() - start, value


def cold_and_warm(function: Callable, *args) -> tuple[float, float]:
    """(seconds of a first request, seconds of the same request again)."""
    return timed(function, *args)[0], timed(function, *args)[0]


# -- the steps -----------------------------------------------------------------------------

def register(api: RestClient, folder: Path, count: int) -> tuple[int, float]:
    """(data set id, seconds from the request to a first items page that counts them all)."""
    start = time.perf_counter()
    dataset_id = api.post("/datasets", {"name": "million", "source": {
        "kind": "directory", "path": str(folder)}})["id"]
    page = api.get(f"/datasets/{dataset_id}/items", limit=TILES)
    seconds = time.perf_counter() - start
    if page["total"] != count or len(page["items"]) != min(TILES, count):
        raise RuntimeError(f"registered {page['total']:,} items of {count:,}")
    return dataset_id, seconds


def wait_for_scan(api: RestClient, dataset_id: int, timeout: float) -> float:
    """Seconds until the data set is ready, printing the scan's progress now and then."""
    start, said = time.perf_counter(), [0.0]

    def ready() -> bool:
        dataset = api.get(f"/datasets/{dataset_id}")
        if time.perf_counter() - said[0] > 30:
            said[0] = time.perf_counter()
            print(f"  scan: {dataset['scanned_files']:,} of {dataset['total_files']:,} files "
                  f"after {said[0] - start:.0f} s")
        return dataset["status"] == "ready"

    wait_until(ready, timeout, "the header scan", poll=1.0)
    return time.perf_counter() - start


def label_page(page: PageRequests, dataset_id: int, number: int) -> None:
    """The label page's page turn: its callback, then its 48 thumbnails."""
    answer = page.callback("label-grid.children", page_values(dataset_id, number),
                           "label-page.value")
    urls = re.findall(r'"(/thumbs/\d+\.png\?[^"]+)"',
                      json.dumps(answer["response"]["label-grid"]))
    if len(urls) != TILES:
        raise RuntimeError(f"{len(urls)} thumbnails on page {number}")
    page.fetch_all(urls, b"\x89PNG")


def open_pages(api: RestClient, label: PageRequests, dataset_id: int,
               count: int) -> dict[str, float]:
    """Cold and warm seconds of the REST items page and the label page at the start,
    middle and end of the data set."""
    last = -(-count // TILES)
    seconds = {}
    for where, number in (("start", 1), ("middle", max(1, last // 2)), ("end", last)):
        if count - (number - 1) * TILES < TILES:
            number -= 1  # a full last page: the label page shows 48 tiles
        offset = (number - 1) * TILES
        rest = cold_and_warm(lambda: api.get(f"/datasets/{dataset_id}/items", offset=offset,
                                             limit=TILES))
        page = cold_and_warm(label_page, label, dataset_id, number)
        for kind, (cold, warm) in (("items route", rest), ("label page", page)):
            seconds[f"{kind} {where} cold"], seconds[f"{kind} {where} warm"] = cold, warm
    return seconds


def item_ids(session_factory, dataset_id: int, count: int) -> np.ndarray:
    """The data set's item ids in file order, read without a Python object per item."""
    with session_factory() as session:
        rows = session.execute(select(Item.id).where(Item.dataset_id == dataset_id)
                               .order_by(Item.id).execution_options(yield_per=50_000))
        ids = np.fromiter((row[0] for row in rows), np.int64, count)
    return ids


def label_items(api: RestClient, dataset_id: int, ids: np.ndarray,
                n_labels: int) -> tuple[list[float], np.ndarray]:
    """``n_labels`` items spread over the data set, labeled in EVENTS events, a class per
    item in turn: (seconds of each event, the labeled ids)."""
    label_ids = [api.post(f"/datasets/{dataset_id}/labels", {"name": name})["id"]
                 for name in DEMO_CLASSES[:3]]
    chosen = ids[np.linspace(0, len(ids) - 1, n_labels).astype(np.int64)]
    seconds = []
    for part in np.array_split(np.arange(n_labels), EVENTS):
        tags = [{"item_id": item, "label_id": label_ids[i % len(label_ids)]}
                for i, item in zip(part.tolist(), chosen[part].tolist())]
        seconds.append(timed(api.post, f"/datasets/{dataset_id}/events",
                             {"tagger": "bench", "method": "manual", "tags": tags})[0])
    return seconds, chosen


def counts(api: RestClient, label: PageRequests, dataset_id: int,
           n_labels: int) -> dict[str, float]:
    """Warm seconds of the REST counts and of the label page's progress callback (its
    counts and its newest events: no goal)."""
    answer = api.get(f"/datasets/{dataset_id}/current-labels", limit=1)
    if answer["labeled"] != n_labels:
        raise RuntimeError(f"{answer['labeled']:,} items labeled, not {n_labels:,}")
    progress = {"label-dataset.value": dataset_id, "label-revision.data": 1}
    return {
        "current-labels counts": cold_and_warm(
            lambda: api.get(f"/datasets/{dataset_id}/current-labels", limit=1))[1],
        "label page progress": cold_and_warm(
            label.callback, "label-progress.children", progress, "label-revision.data")[1]}


def export(base: str, dataset_id: int, fmt: str) -> tuple[int, int]:
    """(bytes, lines) of the export route's whole answer, read as it streams."""
    import urllib.request

    size = lines = 0
    url = f"{base}/api/v1/datasets/{dataset_id}/export?format={fmt}"
    with urllib.request.urlopen(url, timeout=600) as answer:
        while piece := answer.read(1 << 16):
            size += len(piece)
            lines += piece.count(b"\n")
    return size, lines


def exports(base: str, dataset_id: int, n_labels: int) -> dict[str, float]:
    seconds = {}
    for fmt in ("csv", "json"):
        export(base, dataset_id, fmt)  # the first request of the route warms its imports
        seconds[f"export {fmt}"], (size, lines) = timed(export, base, dataset_id, fmt)
        print(f"  {fmt}: {size / 1e6:.1f} MB, {lines:,} lines")
        if fmt == "csv" and lines != n_labels + 1:
            raise RuntimeError(f"the CSV export has {lines:,} lines for {n_labels:,} labels")
    return seconds


def feature_job(session_factory, settings: Settings, dataset_id: int, ids: np.ndarray,
                workdir: Path) -> int:
    """A finished feature job of one float32 vector of FEATURES per item, around 12 centres
    (written through a memory map, a chunk at a time)."""
    path = workdir / "vectors.npy"
    vectors = np.lib.format.open_memmap(path, "w+", np.float32, (len(ids), FEATURES))
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(12, FEATURES)).astype(np.float32)
    for start in range(0, len(ids), 100_000):
        rows = slice(start, min(start + 100_000, len(ids)))
        n = rows.stop - rows.start
        vectors[rows] = centres[rng.integers(0, 12, n)] + rng.standard_normal(
            (n, FEATURES), dtype=np.float32)
    vectors.flush()
    job_id = make_feature_job(session_factory, dataset_id, settings.artifacts_dir, ids,
                              np.load(path, mmap_mode="r"))
    del vectors
    path.unlink()
    return job_id


def similarity(api: RestClient, dataset_id: int, job_id: int, ids: np.ndarray,
               n_labels: int) -> dict[str, float]:
    """Seconds of the similar route's 100 unlabeled items nearest to one item: the first
    (which builds the index) and another."""
    def query(item: int) -> None:
        answer = api.post(f"/datasets/{dataset_id}/similar", {
            "feature_job_id": job_id, "query_item_ids": [item], "limit": 100})
        if len(answer["items"]) != min(100, len(ids) - n_labels):
            raise RuntimeError(f"the similar route gave {len(answer['items'])} items")

    first = timed(query, int(ids[len(ids) // 3]))[0]
    return {"similar, first (builds the index)": first,
            "similar, warm": timed(query, int(ids[2 * len(ids) // 3]))[0]}


def projection(api: RestClient, dataset_id: int, job_id: int) -> tuple[int, float]:
    """(projection job id, seconds from its request to its end)."""
    start = time.perf_counter()
    job = api.post("/jobs", {"kind": "projection", "dataset_id": dataset_id, "params": {
        "feature_job_id": job_id, "method": "pca", "fit_sample": FIT_SAMPLE,
        "heatmap_size": 8}})

    def finished():
        answer = api.get(f"/jobs/{job['id']}")
        return answer if answer["status"] in ("succeeded", "failed", "cancelled") else None

    job = wait_until(finished, JOB_TIMEOUT_S, "the projection job", poll=1.0)
    if job["status"] != "succeeded":
        raise RuntimeError(f"the projection job {job['status']}: {job.get('error')}")
    seconds = time.perf_counter() - start
    fit, images = job["result"]["fit"], job["result"]["heatmap"]
    print(f"  projection job in {seconds:.1f} s: fitted on {fit['sample']:,}, placed "
          f"{fit['placed']:,}; heat-map images of {images['items']:,} items")
    return job["id"], seconds


def trace_values(values) -> np.ndarray:
    """A trace's coordinates as the figure's JSON holds them: a list or plotly's typed
    array."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), np.dtype(values["dtype"]))
    return np.asarray(values if values is not None else [], dtype=np.float64)


def plotly_points(figure: dict, lasso: dict) -> list[dict]:
    """The points of ``figure``'s traces inside the lasso, as plotly reports them."""
    polygon = np.column_stack([lasso["lassoPoints"]["x"], lasso["lassoPoints"]["y"]])
    points = []
    for number, trace in enumerate(figure["data"]):
        xy = np.column_stack([trace_values(trace.get("x")), trace_values(trace.get("y"))])
        points += [{"curveNumber": number, "pointNumber": place, "pointIndex": place}
                   for place in np.flatnonzero(inside_polygon(xy, polygon)).tolist()]
    return points


def explorer(page: PageRequests, session_factory, job_id: int) -> dict[str, float]:
    """Cold and warm seconds of the explorer's whole view (the figure opened) and of a
    lasso around the middle of the points (over points drawn as such, with the points
    plotly would name; over a density, by the region alone)."""
    state = {"explorer-projection.value": job_id, "explorer-colour.value": "label",
             "explorer-revision.data": 0}

    def whole_view() -> dict:
        answer = page.callback("explorer-graph.figure", state, "explorer-projection.value")
        return answer["response"]

    seconds = dict(zip(("explorer whole view cold", "explorer whole view warm"),
                       cold_and_warm(whole_view)))
    shown = whole_view()
    plotted = shown["explorer-plotted"]["data"]
    with session_factory() as session:
        folder = Path(session.get(Job, job_id).artifact_dir)
    points = np.load(folder / "points.npy", mmap_mode="r")
    centre = np.median(points, axis=0)
    radius = 0.25 * float(np.min(points.max(axis=0) - points.min(axis=0)))
    selected = lasso_around(centre, radius)
    if plotted.get("mode") != "density":
        selected["points"] = plotly_points(shown["explorer-graph"]["figure"], selected)
    lasso = {**state, "explorer-plotted.data": plotted, "explorer-graph.selectedData": selected}

    def select() -> dict:
        answer = page.callback("explorer-selection.data", lasso, "explorer-graph.selectedData")
        return answer["response"]["explorer-selection"]["data"] or {}

    cold, selection = timed(select)
    seconds["explorer lasso cold"], seconds["explorer lasso warm"] = cold, timed(select)[0]
    chosen = selection.get("count", 0)
    print(f"  the whole view drawn as {plotted.get('mode')}; the lasso chose {chosen:,} items")
    if chosen == 0:
        raise RuntimeError("the explorer's lasso selected nothing")
    shown_heatmap = {"explorer-selection.data": selection, "explorer-statistic.value": "mean"}

    def heatmap() -> str:
        answer = page.callback("explorer-heatmap.figure", shown_heatmap,
                               "explorer-selection.data")
        return answer["response"]["explorer-heatmap"]["figure"]["layout"]["title"]["text"]

    cold, title = timed(heatmap)
    seconds["explorer heat map cold"], seconds["explorer heat map warm"] = cold, timed(heatmap)[0]
    print(f"  the selection's heat map: {title}")
    return seconds


def folder_bytes(folder: Path) -> int:
    """Disk blocks the files directly in ``folder`` take, in bytes."""
    with os.scandir(folder) as entries:
        return sum(entry.stat().st_blocks * 512 for entry in entries if entry.is_file())


# -- figures -------------------------------------------------------------------------------

def missed_goals(figures: dict) -> list[str]:
    """Print the goals' rows; the names of those missed."""
    seconds = figures["seconds"]
    checks = [("register_s", seconds["register"]), ("scan_s", seconds["scan"])]
    checks += [("page_warm_s", value, name) for name, value in seconds.items()
               if name.endswith(" warm") and not name.startswith(("similar", "explorer"))]
    checks += [("counts_s", seconds["current-labels counts"], "current-labels counts")]
    checks += [("export_s", seconds[name], name) for name in ("export csv", "export json")]
    checks += [("web_rss_bytes", figures["peak_memory_bytes"]["web"], "web process peak RSS")]
    missed = []
    for goal, value, *name in checks:
        name = name[0] if name else goal
        ok = value <= GOALS[goal]
        shown = f"{value / GIB:.2f} GiB" if goal.endswith("bytes") else f"{value:.3f} s"
        limit = f"{GOALS[goal] / GIB:.0f} GiB" if goal.endswith("bytes") else f"{GOALS[goal]:g} s"
        print(f"{name:<32} {shown:>10}  (goal <= {limit})  {verdict(ok)}")
        if not ok:
            missed.append(name)
    return missed


def run(args, root: Path, seconds: dict[str, float]) -> dict:
    """The figures of every step; ``seconds`` fills as they are taken (what a failed run
    had measured)."""
    load = {"start": os.getloadavg()}  # the machine may be shared: the figures' context
    seconds["write images"], folder = timed(make_images, root, args.count, args.distinct)
    print(f"{args.count:,} images ({min(args.distinct, args.count):,} distinct) written in "
          f"{seconds['write images']:.0f} s")
    settings = Settings(home=root / "home", data_roots=(root,), tagger="bench")
    n_labels = min(args.labels, args.count // 2)  # half unlabeled at least, to rank
    with launched_app(settings, root, with_worker=True) as url:
        memory = PeakMemory(launched_child(int(url.rsplit(":", 1)[1]))).start()
        api = RestClient(url)
        dataset_id, seconds["register"] = register(api, folder, args.count)
        print(f"registered {args.count:,} files: browsable after {seconds['register']:.2f} s")
        seconds["scan"] = wait_for_scan(api, dataset_id, args.scan_timeout)
        print(f"scanned (headers and default thumbnails) in {seconds['scan']:.1f} s")
        load["after the scan"] = os.getloadavg()
        label = PageRequests(url, f"/label?dataset={dataset_id}")
        seconds.update(open_pages(api, label, dataset_id, args.count))
        engine, session_factory = open_database(settings)
        ids = item_ids(session_factory, dataset_id, args.count)
        events, labeled = label_items(api, dataset_id, ids, n_labels)
        seconds["label events, total"], seconds["label event, slowest"] = sum(events), max(events)
        print(f"labeled {n_labels:,} items in {EVENTS} events: {sum(events):.2f} s")
        seconds.update(counts(api, label, dataset_id, n_labels))
        seconds.update(exports(url, dataset_id, n_labels))
        seconds["write features"], job_id = timed(feature_job, session_factory, settings,
                                                  dataset_id, ids, root)
        seconds.update(similarity(api, dataset_id, job_id, ids, n_labels))
        projection_id, seconds["projection job"] = projection(api, dataset_id, job_id)
        explore = PageRequests(url, f"/explorer?dataset={dataset_id}")
        seconds.update(explorer(explore, session_factory, projection_id))
        label.close()
        explore.close()
        engine.dispose()
        peaks = memory.stop()
        load["end"] = os.getloadavg()
        thumbnails = folder_bytes(Path(settings.cache_url[len("filesystem://"):]))
    print(f"thumbnail cache: {thumbnails / 2**20:,.0f} MiB on disk, "
          f"{thumbnails / args.count / 1024:.1f} KiB per item")
    for name, value in seconds.items():
        print(f"{name:<36} {value * 1000:10.1f} ms")
    for name, peak in peaks.items():
        print(f"peak memory, {name:<24} {peak / 2**20:8,.0f} MiB")
    for when, averages in load.items():
        print(f"load average (1, 5, 15 min), {when}: "
              + ", ".join(f"{value:.2f}" for value in averages))
    figures = {"count": args.count, "distinct": min(args.distinct, args.count),
               "labels": n_labels, "scan_workers": settings.scan_workers,
               "seconds": seconds, "peak_memory_bytes": peaks,
               "thumbnail_cache_bytes": thumbnails, "load_average": load,
               "cpus": os.cpu_count(), "goals": GOALS}
    figures["missed"] = missed_goals(figures)
    if args.json:
        write_figures(args.json, figures)
    return figures


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="images")
    parser.add_argument("--distinct", type=int, default=3000,
                        help="images drawn; the rest are hard links to them")
    parser.add_argument("--labels", type=int, default=100_000,
                        help="items labeled (at most half of --count), in 10 events")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the images and the data home go (removed at the end)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--scan-timeout", type=float, default=SCAN_TIMEOUT_S,
                        help="seconds to wait for the scan before giving up")
    args = parser.parse_args(argv)
    if args.count < 2 * TILES or args.distinct < 1 or args.labels < EVENTS:
        parser.error(f"--count must be at least {2 * TILES}, --distinct at least 1 and "
                     f"--labels at least {EVENTS}")
    if args.count > args.distinct * MAX_LINKS:
        parser.error(f"--distinct must be at least {-(-args.count // MAX_LINKS):,} for "
                     f"--count {args.count:,}: a file takes at most {MAX_LINKS:,} hard links")
    return args


def write_figures(path: Path, figures: dict) -> None:
    path.write_text(json.dumps(figures, indent=2))


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens in a log
    check_room(args.workdir, args.count, args.distinct)
    seconds: dict[str, float] = {}
    root = Path(tempfile.mkdtemp(dir=args.workdir, prefix="bench_million_"))
    try:
        figures = run(args, root, seconds)
    except Exception as error:  # a step failed: keep what the steps before it measured
        if args.json:
            write_figures(args.json, {"count": args.count, "seconds": seconds,
                                      "error": repr(error)})
        raise
    finally:
        # Figures first: removing a million links and thumbnails takes minutes.
        print(f"removing {root} ...")
        shutil.rmtree(root, ignore_errors=True)
    return 1 if figures["missed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
