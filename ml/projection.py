"""Projections (PCA, UMAP) and clusterings (KMeans, DBSCAN, HDBSCAN) of feature vectors.

Methods are chosen by name from two registries, each entry with its parameter spec, so a
new method is one entry. ``project`` (``fit_projection`` when the fitted estimator is wanted
too, to place new vectors later: ml/projection_place.py; ``fit_on_sample`` for a million
vectors: fit on a seeded sample, place the rest chunk by chunk) and ``cluster`` are the
public functions; the web process imports this module for the specs only (scikit-learn and
umap load when a method runs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from errors import DomainError
from ml.params import Choice, Flag, Param, Spec, params_checker

SEED = Param(int, 0, 0, 2**31 - 1)
COMPONENTS = Param(int, 2, 2, 3)


@dataclass(frozen=True)
class Method:
    title: str
    params: dict[str, Spec]
    # a projection returns (points, the fitted estimator); a clustering the cluster labels
    run: Callable[[np.ndarray, dict[str, Any]], Any]


def _pca(vectors: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, Any]:
    from sklearn.decomposition import PCA

    estimator = PCA(n_components=params["n_components"], whiten=params["whiten"],
                    random_state=0)
    return estimator.fit_transform(vectors), estimator


def _umap(vectors: np.ndarray, params: dict[str, Any]) -> tuple[np.ndarray, Any]:
    import umap

    estimator = umap.UMAP(n_components=params["n_components"],
                          n_neighbors=params["n_neighbors"], min_dist=params["min_dist"],
                          metric=params["metric"], random_state=params["seed"], n_jobs=1)
    return estimator.fit_transform(vectors), estimator


def _kmeans(data: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=params["n_clusters"], n_init="auto",
                  random_state=params["seed"]).fit_predict(data)


def _dbscan(data: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=params["eps"], min_samples=params["min_samples"]).fit_predict(data)


def _hdbscan(data: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=params["min_cluster_size"],
                   min_samples=params["min_samples"] or None, copy=True).fit_predict(data)


PROJECTIONS: dict[str, Method] = {
    "pca": Method("PCA", {"n_components": COMPONENTS, "whiten": Flag(False)}, _pca),
    "umap": Method("UMAP", {
        "n_components": COMPONENTS, "n_neighbors": Param(int, 15, 2, 200),
        "min_dist": Param(float, 0.1, 0.0, 1.0),
        "metric": Choice(("euclidean", "cosine", "manhattan", "correlation")),
        "seed": SEED}, _umap),
}
CLUSTERINGS: dict[str, Method] = {
    "kmeans": Method("KMeans", {"n_clusters": Param(int, 8, 2, 1000), "seed": SEED}, _kmeans),
    "dbscan": Method("DBSCAN", {"eps": Param(float, 0.5, 1e-6, 1e6),
                                "min_samples": Param(int, 5, 1, 100_000)}, _dbscan),
    # min_samples 0: the same as min_cluster_size (scikit-learn's default).
    "hdbscan": Method("HDBSCAN", {"min_cluster_size": Param(int, 15, 2, 1_000_000),
                                  "min_samples": Param(int, 0, 0, 100_000)}, _hdbscan),
}


def check_method(registry: dict[str, Method], method: Any, params: dict[str, Any],
                 prefix: str = "params") -> dict[str, Any]:
    """The normalised parameters of ``method``; a DomainError naming ``prefix.<field>``."""
    if method not in registry:
        raise DomainError(f"{prefix}.method must be one of {', '.join(registry)} "
                          f"(got {method!r})", f"{prefix}.method")
    spec = registry[method].params
    if unknown := sorted(set(params) - set(spec)):
        raise DomainError(f"{prefix}.{unknown[0]} is not a parameter of {method}; use "
                          f"{', '.join(spec)}", f"{prefix}.{unknown[0]}")
    try:
        return params_checker(spec)(dict(params))
    except DomainError as error:  # params_checker names fields params.<name>
        field = prefix + error.field.removeprefix("params")
        raise DomainError(str(error).replace(error.field, field, 1), field) from error


def fit_projection(vectors: np.ndarray, method: str,
                   params: dict[str, Any]) -> tuple[np.ndarray, Any]:
    """(float32 (n, n_components) coordinates of the rows of ``vectors``, the fitted
    estimator that can place further vectors)."""
    checked = check_method(PROJECTIONS, method, params)
    data = np.asarray(vectors, dtype=np.float32)
    if len(data) <= checked["n_components"]:
        raise ValueError(f"{len(data)} vectors are too few for a {checked['n_components']}-D "
                         "projection")
    points, estimator = PROJECTIONS[method].run(data, checked)
    return np.ascontiguousarray(points, dtype=np.float32), estimator


FIT_SAMPLE = 20_000  # vectors a projection is fitted on; the rest are placed by its transform
PLACE_CHUNK = 50_000  # vectors placed at a time: memory stays bounded at any size


@dataclass(frozen=True)
class SampledFit:
    points: np.ndarray  # float32 (n, n_components), one per vector
    estimator: Any  # fitted on the sample only
    sample_rows: np.ndarray  # sorted rows of the vectors it was fitted on


def fit_on_sample(vectors: np.ndarray, method: str, params: dict[str, Any],
                  sample: int = FIT_SAMPLE, seed: int = 0, chunk: int = PLACE_CHUNK,
                  on_chunk: Optional[Callable[[int, int], None]] = None) -> SampledFit:
    """A projection of every row of ``vectors`` (which may be memory-mapped) fitted on
    ``sample`` rows drawn with ``seed`` (all rows when there are no more), the others
    placed ``chunk`` rows at a time by the fitted transform, as items arriving later are
    (ml/projection_place.py). ``on_chunk(placed, to_place)`` follows each chunk (it may
    raise to stop)."""
    from ml.projection_place import fitted_transform

    total = len(vectors)
    if total <= sample:
        points, estimator = fit_projection(vectors, method, params)
        return SampledFit(points, estimator, np.arange(total))
    rows = np.sort(np.random.default_rng(seed).choice(total, sample, replace=False))
    fitted, estimator = fit_projection(np.asarray(vectors[rows]), method, params)
    points = np.empty((total, fitted.shape[1]), dtype=np.float32)
    points[rows] = fitted
    rest = np.setdiff1d(np.arange(total), rows, assume_unique=True)
    place = fitted_transform(method, estimator)
    for start in range(0, len(rest), chunk):
        part = rest[start:start + chunk]
        points[part] = place(np.asarray(vectors[part]))
        if on_chunk is not None:
            on_chunk(start + len(part), len(rest))
    return SampledFit(points, estimator, rows)


def project(vectors: np.ndarray, method: str, params: dict[str, Any]) -> np.ndarray:
    """float32 (n, n_components) coordinates of the rows of ``vectors``."""
    return fit_projection(vectors, method, params)[0]


def cluster(points_or_vectors: np.ndarray, method: str, params: dict[str, Any]) -> np.ndarray:
    """int32 cluster of each row, numbered from 0 by size (largest first); -1 is noise."""
    checked = check_method(CLUSTERINGS, method, params)
    raw = CLUSTERINGS[method].run(np.asarray(points_or_vectors, dtype=np.float32), checked)
    return renumber_by_size(np.asarray(raw))


def renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Cluster numbers 0, 1, ... from the largest cluster down; noise (-1) stays -1."""
    found, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = found[np.argsort(-counts, kind="stable")]
    lookup = np.full(int(labels.max(initial=-1)) + 2, -1, dtype=np.int32)
    lookup[order] = np.arange(len(order), dtype=np.int32)
    return lookup[labels]  # labels of -1 index the last entry, which stays -1
