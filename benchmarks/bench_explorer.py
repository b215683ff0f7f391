"""The latent space explorer's goals on this machine's CPU:
- PCA of 100,000 × 256 vectors under 5 s; UMAP of 20,000 × 256 under 90 s (scikit-learn and
  umap are imported first, but numba's first compilation is included: a worker pays it
  once per process);
- the serialized scatter figure of 100,000 points under 5 MB (built under 2 s);
- the mean / standard-deviation heat map of a 5,000-item selection of 256×256 images under
  2 s, at the default heat-map size (64) and at full resolution (256), from the image stack
  a projection job writes (reading the stack once is printed as well).
Clustering times are printed without goals. Exits non-zero when a goal is missed.

    python benchmarks/bench_explorer.py [--quick]
"""
from __future__ import annotations

import argparse
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
from data.selection_stats import build_stack, selection_stats  # noqa: E402
from data.sources.directory import DirectorySource  # noqa: E402
from data.transforms import Transform  # noqa: E402
from ml.projection import cluster, project  # noqa: E402

GOALS = {"PCA 100,000 × 256": 5.0, "UMAP 20,000 × 256": 90.0, "figure 100,000 points": 2.0,
         "heat map 5,000 × 64²": 2.0, "heat map 5,000 × 256²": 2.0}
MAX_FIGURE_BYTES = 5_000_000
HEATMAP_IMAGES = 5_000


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip UMAP (the slow one)")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    import sklearn.decomposition  # noqa: F401  (imports are no part of the timings)
    import umap  # noqa: F401
    vectors = grouped_vectors(100_000)
    figures["PCA 100,000 × 256"], points = timed(project, vectors, "pca", {})
    if not args.quick:
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
    return 1 if missed or not size_ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
