"""Placing new vectors on an already fitted projection, without fitting it again.

A projection job saves what it fitted beside its points (``save_transform``); later,
``place_new_points`` maps vectors of items that arrived since (a live data set's feature
job grows) to the same axes: a PCA by its mean and components, a UMAP by the fitted
model's ``transform``. One entry per method in ``PLACEMENTS``, keyed like
``ml.projection.PROJECTIONS``. Knows nothing of the app: a job here is anything with
``params``, ``result`` and ``artifact_dir``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from errors import DomainError


@dataclass(frozen=True)
class Placement:
    files: dict[str, str]  # result["files"] key -> file name in the job's artifact folder
    save: Callable[[Any, dict[str, Path]], None]  # (fitted estimator, paths by key)
    load: Callable[[dict[str, Path]], Any]  # (paths by key) -> the transform
    of: Callable[[Any], Any]  # (fitted estimator) -> the same transform, without files
    transform: Callable[[Any, np.ndarray], np.ndarray]  # (transform, vectors) -> points


def _pca_of(estimator) -> tuple[np.ndarray, np.ndarray]:
    # sklearn's PCA.transform: (x - mean) @ components.T, divided per component by
    # sqrt(explained variance) when whitened; that scale is folded into the components.
    components = np.asarray(estimator.components_, dtype=np.float64)
    if estimator.whiten:
        components = components / np.sqrt(estimator.explained_variance_)[:, None]
    return np.asarray(estimator.mean_, dtype=np.float64), components


def _save_pca(estimator, paths: dict[str, Path]) -> None:
    mean, components = _pca_of(estimator)
    np.save(paths["pca_mean"], mean)
    np.save(paths["pca_components"], components)


def _load_pca(paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    return (np.load(paths["pca_mean"], allow_pickle=False),
            np.load(paths["pca_components"], allow_pickle=False))


def _dimensions_check(vectors: np.ndarray, fitted: int) -> None:
    if vectors.shape[1] != fitted:
        raise DomainError(f"vectors have {vectors.shape[1]} dimensions, the projection was "
                          f"fitted on {fitted}", "vectors")


def _place_pca(transform: tuple[np.ndarray, np.ndarray], vectors: np.ndarray) -> np.ndarray:
    mean, components = transform
    _dimensions_check(vectors, len(mean))
    return (vectors.astype(np.float64) - mean) @ components.T


# A fitted UMAP has no stored form but a pickle. Only our own projection jobs write a
# job's artifact folder, and the model is loaded only from the job's own folder, never
# from a path or file that came with a request.
def _save_umap(estimator, paths: dict[str, Path]) -> None:
    import joblib

    joblib.dump(estimator, paths["umap_model"])


def _load_umap(paths: dict[str, Path]):
    import joblib

    return joblib.load(paths["umap_model"])


def _place_umap(model, vectors: np.ndarray) -> np.ndarray:
    _dimensions_check(vectors, model._raw_data.shape[1])
    return model.transform(vectors)


PLACEMENTS: dict[str, Placement] = {
    "pca": Placement({"pca_mean": "pca_mean.npy", "pca_components": "pca_components.npy"},
                     _save_pca, _load_pca, _pca_of, _place_pca),
    "umap": Placement({"umap_model": "umap_model.joblib"}, _save_umap, _load_umap,
                      lambda estimator: estimator, _place_umap),
}


def fitted_transform(method: str, estimator) -> Callable[[np.ndarray], np.ndarray]:
    """float32 points of vectors by the fitted ``estimator``, by the very arithmetic that
    places new items later from the saved files (``place_new_points``)."""
    placement, transform = PLACEMENTS[method], PLACEMENTS[method].of(estimator)
    return lambda vectors: np.ascontiguousarray(
        placement.transform(transform, np.asarray(vectors, dtype=np.float32)), np.float32)


def save_transform(folder: Path, method: str, estimator) -> dict[str, str]:
    """Save the fitted ``estimator`` of projection ``method`` in ``folder``; the files to
    record under the job result's ``files``."""
    placement = PLACEMENTS[method]
    placement.save(estimator, {key: Path(folder) / name for key, name in placement.files.items()})
    return dict(placement.files)


def can_place(projection_job) -> bool:
    """Whether the job saved the transform it fitted (older jobs did not)."""
    placement = PLACEMENTS.get((projection_job.params or {}).get("method"))
    files = (projection_job.result or {}).get("files", {})
    return placement is not None and all(key in files for key in placement.files)


def place_new_points(projection_job, vectors: np.ndarray) -> np.ndarray:
    """float32 (n, n_components) coordinates of the rows of ``vectors`` on the axes of the
    finished ``projection_job``, by the transform it fitted; a DomainError when it saved
    none (refit it) or the vectors do not fit it."""
    if not can_place(projection_job):
        raise DomainError(f"projection job {projection_job.id} saved no fitted transform; "
                          "refit it to place new items", "projection_job_id")
    data = np.asarray(vectors, dtype=np.float32)
    components = int(projection_job.params["n_components"])
    if data.ndim != 2:
        raise DomainError("vectors must be a 2-D array, one row per item", "vectors")
    if len(data) == 0:
        return np.empty((0, components), dtype=np.float32)
    placement = PLACEMENTS[projection_job.params["method"]]
    folder = Path(projection_job.artifact_dir)
    transform = placement.load({key: folder / name for key, name in placement.files.items()})
    points = placement.transform(transform, data)
    return np.ascontiguousarray(points, dtype=np.float32)
