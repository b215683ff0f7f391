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
    place: Callable[[dict[str, Path], np.ndarray], np.ndarray]  # (paths by key, vectors)


def _save_pca(estimator, paths: dict[str, Path]) -> None:
    # sklearn's PCA.transform: (x - mean) @ components.T, divided per component by
    # sqrt(explained variance) when whitened; that scale is folded into the components.
    components = np.asarray(estimator.components_, dtype=np.float64)
    if estimator.whiten:
        components = components / np.sqrt(estimator.explained_variance_)[:, None]
    np.save(paths["pca_mean"], np.asarray(estimator.mean_, dtype=np.float64))
    np.save(paths["pca_components"], components)


def _place_pca(paths: dict[str, Path], vectors: np.ndarray) -> np.ndarray:
    mean = np.load(paths["pca_mean"], allow_pickle=False)
    components = np.load(paths["pca_components"], allow_pickle=False)
    if vectors.shape[1] != len(mean):
        raise DomainError(f"vectors have {vectors.shape[1]} dimensions, the projection was "
                          f"fitted on {len(mean)}", "vectors")
    return (vectors.astype(np.float64) - mean) @ components.T


# A fitted UMAP has no stored form but a pickle. Only our own projection jobs write a
# job's artifact folder, and the model is loaded only from the job's own folder, never
# from a path or file that came with a request.
def _save_umap(estimator, paths: dict[str, Path]) -> None:
    import joblib

    joblib.dump(estimator, paths["umap_model"])


def _place_umap(paths: dict[str, Path], vectors: np.ndarray) -> np.ndarray:
    import joblib

    model = joblib.load(paths["umap_model"])
    if vectors.shape[1] != model._raw_data.shape[1]:
        raise DomainError(f"vectors have {vectors.shape[1]} dimensions, the projection was "
                          f"fitted on {model._raw_data.shape[1]}", "vectors")
    return model.transform(vectors)


PLACEMENTS: dict[str, Placement] = {
    "pca": Placement({"pca_mean": "pca_mean.npy", "pca_components": "pca_components.npy"},
                     _save_pca, _place_pca),
    "umap": Placement({"umap_model": "umap_model.joblib"}, _save_umap, _place_umap),
}


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
    points = placement.place({key: folder / name for key, name in placement.files.items()},
                             data)
    return np.ascontiguousarray(points, dtype=np.float32)
