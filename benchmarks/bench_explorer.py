"""The latent space explorer's goals on this machine's CPU:
- PCA of 100,000 × 256 vectors under 5 s; UMAP of 20,000 × 256 under 90 s (scikit-learn and
  umap are imported first, but numba's first compilation is included: a worker pays it
  once per process);
- the serialized scatter figure of 100,000 points under 5 MB (built under 2 s);
- the mean / standard-deviation heat map of a 5,000-item selection of 256×256 images under
  2 s, at the default heat-map size (64) and at full resolution (256), from the image stack
  a projection job writes (reading the stack once is printed as well).
Clustering times are printed without goals.

And at 1,000,000 points (``--million``, alone with ``--only-million``): the PCA of 1M × 256
memory-mapped vectors fitted on a 20,000 sample with the rest placed in chunks (UMAP too
with ``--umap-million``: fit 20,000, transform the rest), the figure of the whole projection
(a density) built and serialized, a zoom and pan drawn again as a density and as points
(with the labels of the points in view looked up among 1M current labels in SQLite), and a
lasso (200 vertices) and a box selected on the stored coordinates, with the bytes each
figure sends to the browser; then the same through the page's own code ("page:" rows:
callbacks.explorer.draw_projection on a SQLite database holding the data set, its 1M
labels, the feature job and the projection job; a lasso selected and saved). Medians of 3.
Goals: every relayout and selection answers in <= 1 s, and no figure sends more than 2 MB.
Exits non-zero when a goal is missed; ``--json FILE`` writes the figures.

    python benchmarks/bench_explorer.py [--quick] [--million | --only-million]
                                        [--umap-million] [--json FILE]
"""
from __future__ import annotations

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_gallery import make_folder  # noqa: E402
from benchmarks.goals import check_times, verdict  # noqa: E402
from callbacks.explorer_figure import label_groups, scatter_figure  # noqa: E402
from callbacks.explorer_view import (Drawable, density_plot, points_plot,  # noqa: E402
                                     region_items, rows_to_draw)
from data.selection_stats import build_stack, selection_stats  # noqa: E402
from data.sources.directory import DirectorySource  # noqa: E402
from data.transforms import Transform  # noqa: E402
from ml.projection import cluster, fit_on_sample, project  # noqa: E402
from ml.projection_view import POINTS_LIMIT, View  # noqa: E402

GOALS = {"PCA 100,000 × 256": 5.0, "UMAP 20,000 × 256": 90.0, "figure 100,000 points": 2.0,
         "heat map 5,000 × 64²": 2.0, "heat map 5,000 × 256²": 2.0}
MAX_FIGURE_BYTES = 5_000_000
HEATMAP_IMAGES = 5_000
MILLION = 1_000_000
MILLION_GOALS = {"relayout: zoom, density": 1.0, "relayout: zoom, points": 1.0,
                 "relayout: pan, points": 1.0, "lasso selection": 1.0,
                 "box selection": 1.0, "whole figure (density)": 1.0,
                 "page: whole": 1.0, "page: zoom, density": 1.0, "page: zoom, points": 1.0,
                 "page: pan, points": 1.0, "page: lasso selection, saved": 1.0}
MAX_MILLION_FIGURE_BYTES = 2_000_000


def grouped_vectors(n: int, dim: int = 256, groups: int = 12, seed: int = 0) -> np.ndarray:
    """Vectors around ``groups`` centres, like the latents of a data set with classes."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(groups, dim)).astype(np.float32)
    return centres[rng.integers(0, groups, n)] + rng.normal(size=(n, dim)).astype(np.float32)


def timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return time.perf_counter() - start, value


def figure_bytes(points: np.ndarray) -> tuple[float, int]:
    from plotly.io.json import to_json_plotly  # what Dash serializes callback outputs with

    rng = np.random.default_rng(1)
    item_ids = np.arange(len(points), dtype=np.int64) + 1_000_000
    codes = rng.integers(-1, 8, len(points))
    labels = {i: (f"class {i}", f"#{i * 30:02x}7799") for i in range(8)}
    start = time.perf_counter()
    text = to_json_plotly(scatter_figure(points, item_ids, codes, label_groups(codes, labels)))
    return time.perf_counter() - start, len(text.encode())


def heatmap_seconds(folder: Path, size: int) -> tuple[float, float]:
    """(seconds per image to build the stack, seconds for the heat map of all of it)."""
    source = DirectorySource(str(folder))
    items = [SimpleNamespace(path=str(p.relative_to(folder)), frame=0)
             for p in sorted(folder.rglob("*.tif"))][:HEATMAP_IMAGES]
    stack_path = folder.parent / f"stack-{size}.npy"
    build, _readable = timed(build_stack, source, items, size, Transform(log=True), stack_path)
    stack = np.load(stack_path, mmap_mode="r")
    rows = np.random.default_rng(2).permutation(len(items))
    seconds, stats = timed(selection_stats, stack, rows)
    assert stats.count == len(items)
    stack_path.unlink()
    return build / len(items), seconds


def median_of_3(function, *args):
    """(median seconds of three runs, the last value): the first run of a query or a path
    pays warm-up that a page in use does not."""
    runs = [timed(function, *args) for _ in range(3)]
    return float(np.median([seconds for seconds, _ in runs])), runs[-1][1]


def million_vectors(folder: Path, dim: int = 256) -> np.ndarray:
    """1M grouped vectors in a memory-mapped .npy, as a feature job stores them (written in
    chunks: the benchmark never holds them twice)."""
    vectors = np.lib.format.open_memmap(folder / "vectors.npy", "w+", np.float32,
                                        (MILLION, dim))
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(12, dim)).astype(np.float32)
    for start in range(0, MILLION, 100_000):
        rows = slice(start, start + 100_000)
        vectors[rows] = centres[rng.integers(0, 12, 100_000)] + rng.standard_normal(
            (100_000, dim), dtype=np.float32)
    vectors.flush()
    return np.load(folder / "vectors.npy", mmap_mode="r")


def label_lookup(folder: Path, item_ids: np.ndarray, labels: np.ndarray):
    """A SQLite database holding a current label for every item; a function giving the
    labels of some items as the explorer looks them up."""
    from db.models import Base, CurrentLabel
    from db.session import make_engine, make_session_factory
    from ml.projection_results import current_label_ids

    engine = make_engine(f"sqlite:///{folder / 'labels.db'}")
    Base.metadata.create_all(engine, tables=[CurrentLabel.__table__])
    with engine.begin() as connection:
        connection.execute(CurrentLabel.__table__.insert(), [
            {"item_id": int(i), "dataset_id": 1, "label_id": int(label), "event_id": 1,
             "sort_key": int(i)} for i, label in zip(item_ids, labels)])
    sessions = make_session_factory(engine)

    def lookup(ids: np.ndarray) -> np.ndarray:
        with sessions() as session:
            return current_label_ids(session, 1, ids)
    return lookup


def projection_in_database(folder: Path, vectors: np.ndarray, fitted, labels: np.ndarray):
    """A SQLite database as the app keeps it, holding a data set with eight label classes,
    a current label for each of 1M items, the feature job of ``vectors`` and a finished
    projection job of its ``fitted`` points; (session factory, projection job id)."""
    from db.labels import create_label
    from db.models import Base, CurrentLabel, Dataset, Job
    from db.session import make_engine, make_session_factory, transaction
    from ml.kinds.projection import FILES, check_projection_params
    from ml.projection_place import save_transform
    from tests.feature_jobs import make_feature_job

    engine = make_engine(f"sqlite:///{folder / 'app.db'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        dataset = Dataset(name="million", source_kind="directory", location=str(folder))
        session.add(dataset)
        session.flush()
        label_ids = [create_label(session, dataset.id, f"class {i}").id for i in range(8)]
    item_ids = np.arange(MILLION, dtype=np.int64) + 1
    with engine.begin() as connection:
        connection.execute(CurrentLabel.__table__.insert(), [
            {"item_id": int(i), "dataset_id": dataset.id, "label_id": label_ids[label],
             "event_id": 1, "sort_key": int(i)} for i, label in zip(item_ids, labels)])
    feature_job = make_feature_job(sessions, dataset.id, folder, item_ids, vectors)
    artifacts = folder / "projection"
    artifacts.mkdir()
    np.save(artifacts / FILES["points"], fitted.points)
    np.save(artifacts / FILES["item_ids"], item_ids)
    files = {"points": FILES["points"], "item_ids": FILES["item_ids"],
             **save_transform(artifacts, "pca", fitted.estimator)}
    with transaction(sessions) as session:
        job = Job(kind="projection", dataset_id=dataset.id, owner="bench", status="succeeded",
                  params=check_projection_params({"feature_job_id": feature_job}),
                  metrics=[], artifact_dir=str(artifacts),
                  result={"items": MILLION, "n_components": 2, "files": files})
        session.add(job)
        session.flush()
        return sessions, job.id


def callback_figures(sessions, job_id: int, views: dict) -> tuple[dict, dict]:
    """(seconds, bytes) of the page's own drawing (callbacks.explorer.draw_projection: the
    projection loaded, arrivals looked for, labels of the points in view, the figure) for
    each named view, and of a lasso selected and saved as the page does."""
    from callbacks.explorer import Shown, draw_projection, saved_selection, selected_items
    from ml.projection_results import load_projection

    seconds, sizes = {}, {}

    def draw(view):
        with sessions() as session:
            drawn = draw_projection(session, job_id, "label",
                                    Shown(view, POINTS_LIMIT, "lasso"))
        return drawn, serialized(drawn.figure)

    for name, view in views.items():
        seconds[f"page: {name}"], (drawn, sizes[f"page: {name}"]) = median_of_3(draw, view)
    whole_plot, _ = draw(None)
    points = whole_plot.projection.points
    centre, radius = np.median(points, axis=0), 0.25 * float(np.ptp(points[:, 0]))

    def select():
        with sessions() as session:
            projection = load_projection(session, job_id)
        chosen, placed = selected_items(projection, whole_plot.plotted,
                                        lasso_around(centre, radius))
        return saved_selection(projection, chosen, placed)

    seconds["page: lasso selection, saved"], selection = median_of_3(select)
    print(f"page: lasso selected and saved {selection['count']:,} items")
    return seconds, sizes


def serialized(figure) -> int:
    from plotly.io.json import to_json_plotly

    return len(to_json_plotly(figure).encode())


def lasso_around(centre: np.ndarray, radius: float, vertices: int = 200) -> dict:
    """selectedData of a wobbly lasso, as plotly reports one."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    radii = radius * (1 + 0.2 * np.sin(7 * angles))
    return {"lassoPoints": {"x": (centre[0] + radii * np.cos(angles)).tolist(),
                            "y": (centre[1] + radii * np.sin(angles)).tolist()},
            "points": []}


def million_figures(umap_too: bool) -> tuple[dict[str, float], dict[str, int]]:
    """(seconds by row, bytes by figure) at 1M points; imports are no part of them."""
    importlib.import_module("sklearn.decomposition")
    seconds: dict[str, float] = {}
    sizes: dict[str, int] = {}
    folder = Path(tempfile.mkdtemp())
    try:
        vectors = million_vectors(folder)
        seconds["PCA 1M × 256 (fit 20,000, place the rest)"], fitted = timed(
            fit_on_sample, vectors, "pca", {})
        if umap_too:
            importlib.import_module("umap")
            seconds["UMAP 1M × 256 (fit 20,000, transform the rest)"], _ = timed(
                fit_on_sample, vectors, "umap", {})
        item_ids = np.arange(MILLION, dtype=np.int64) + 1
        labels = np.random.default_rng(3).integers(1, 9, MILLION)
        lookup = label_lookup(folder, item_ids, labels)
        groups = label_groups(labels[:1000], {i: (f"class {i}", f"#{i * 30:02x}7799")
                                              for i in range(1, 9)})

        def draw(view):
            """One relayout: the view's rows, its density or its points with their labels
            looked up, and the figure serialized as Dash sends it."""
            drawable = Drawable.of(fitted.points, item_ids, np.empty(0, np.int64),
                                   np.empty((0, 2), np.float32))
            rows = rows_to_draw(drawable, view, POINTS_LIMIT)
            if rows is None:
                plot = density_plot(drawable, view, POINTS_LIMIT)
            else:
                plot = points_plot(drawable, rows, lookup(item_ids[rows]), groups, view=view)
            return plot, serialized(plot.figure)

        whole = View.around(fitted.points)
        seconds["whole figure (density)"], (plot, sizes["whole (density)"]) = median_of_3(
            draw, None)
        # zooms onto one group of points: a square around one of them holding 300,000
        # points (a density) or 40,000 (points), and a pan by half the latter's side
        centre = fitted.points[0].astype(np.float64)
        reach = np.abs(fitted.points - centre).max(axis=1)
        views = {"whole": None}
        for name, count, shift in (("zoom, density", 300_000, 0.0),
                                   ("zoom, points", 40_000, 0.0),
                                   ("pan, points", 40_000, 0.5)):
            half = float(np.partition(reach, count)[count])
            x0, y0 = centre + half * shift - half
            view = views[name] = View(x0, x0 + 2 * half, y0, y0 + 2 * half)
            seconds[f"relayout: {name}"], (plot, sizes[name]) = median_of_3(draw, view)
            print(f"{name}: {view.holds(fitted.points).sum():,} points in view, drawn as "
                  f"{plot.mode}")
        span = np.array([whole.x1 - whole.x0, whole.y1 - whole.y0])
        centre = np.median(fitted.points, axis=0)
        drawable = Drawable.of(fitted.points, item_ids, np.empty(0, np.int64),
                               np.empty((0, 2), np.float32))
        radius = 0.25 * span.min()
        seconds["lasso selection"], chosen = median_of_3(region_items, drawable,
                                                         lasso_around(centre, radius))
        print(f"lasso of 200 vertices: {len(chosen):,} items")
        box = {"range": {"x": [centre[0] - radius, centre[0] + radius],
                         "y": [centre[1] - radius, centre[1] + radius]}}
        seconds["box selection"], chosen = median_of_3(region_items, drawable, box)
        print(f"box: {len(chosen):,} items")
        sessions, job_id = projection_in_database(folder, vectors, fitted, labels % 8)
        page_seconds, page_sizes = callback_figures(sessions, job_id, views)
        seconds.update(page_seconds)
        sizes.update(page_sizes)
    finally:
        shutil.rmtree(folder)
    return seconds, sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip UMAP (the slow one)")
    parser.add_argument("--million", action="store_true", help="add the 1M-point rows")
    parser.add_argument("--only-million", action="store_true", help="only the 1M-point rows")
    parser.add_argument("--umap-million", action="store_true",
                        help="with the 1M rows, UMAP too (minutes)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    missed, figures, sizes = [], {}, {}
    if not args.only_million:
        missed, figures, sizes = hundred_thousand(args.quick)
    if args.million or args.only_million:
        million, million_sizes = million_figures(args.umap_million)
        goals = {name: MILLION_GOALS.get(name, float("inf")) for name in million}
        missed += check_times(million, goals, prefix="1M: ")
        for name, size in million_sizes.items():
            ok = size <= MAX_MILLION_FIGURE_BYTES
            print(f"1M: figure sent, {name}: {size / 1e6:.3f} MB "
                  f"(goal <= {MAX_MILLION_FIGURE_BYTES / 1e6:.0f} MB)  {verdict(ok)}")
            if not ok:
                missed.append(f"bytes {name}")
        figures.update({f"1M {name}": value for name, value in million.items()})
        sizes.update({f"1M {name}": value for name, value in million_sizes.items()})
    if args.json:
        args.json.write_text(json.dumps({"seconds": figures, "bytes": sizes,
                                         "missed": missed}, indent=2))
    return 1 if missed else 0


def hundred_thousand(quick: bool) -> tuple[list[str], dict[str, float], dict[str, int]]:
    """(missed goals, seconds by row, bytes by figure) of the 100,000-point rows."""
    figures: dict[str, float] = {}
    import sklearn.decomposition  # noqa: F401  (imports are no part of the timings)
    import umap  # noqa: F401
    vectors = grouped_vectors(100_000)
    figures["PCA 100,000 × 256"], points = timed(project, vectors, "pca", {})
    if not quick:
        cpu = time.process_time()
        figures["UMAP 20,000 × 256"], _ = timed(project, vectors[:20_000], "umap", {})
        print(f"UMAP used {time.process_time() - cpu:.1f} s of CPU time (more than the wall "
              "time when several cores work; less when the CPU is shared)")
    figures["figure 100,000 points"], size = figure_bytes(points)
    for name, method, params in (("KMeans (12)", "kmeans", {"n_clusters": 12}),
                                 ("HDBSCAN", "hdbscan", {"min_cluster_size": 50})):
        seconds, found = timed(cluster, points, method, params)
        print(f"{name} of 100,000 2-D points: {seconds:.1f} s, "
              f"{found.max() + 1} clusters (no goal)")
    folder = Path(tempfile.mkdtemp()) / "images"
    try:
        make_folder(folder, HEATMAP_IMAGES)
        for side in (64, 256):
            per_image, figures[f"heat map 5,000 × {side}²"] = heatmap_seconds(folder, side)
            print(f"reading the images into a {side}² stack (once per projection job): "
                  f"{per_image * 1000:.2f} ms per image")
    finally:
        shutil.rmtree(folder.parent)
    missed = check_times(figures, {name: GOALS[name] for name in figures})
    size_ok = size < MAX_FIGURE_BYTES
    print(f"serialized figure, 100,000 points: {size / 1e6:.2f} MB "
          f"(goal < {MAX_FIGURE_BYTES / 1e6:.0f} MB)  {verdict(size_ok)}")
    return missed + ([] if size_ok else ["figure bytes"]), figures, {"100,000 points": size}


if __name__ == "__main__":
    raise SystemExit(main())
