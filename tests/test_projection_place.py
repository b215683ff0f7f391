"""Placing new vectors on a fitted projection: a PCA places them exactly where projecting
them does, a UMAP places held-out points among their own group's points."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from db.models import Job
from errors import DomainError
from ml.projection import fit_projection
from ml.projection_place import can_place, place_new_points, save_transform
from tests.constructed import separated_groups

GROUPS, PER_GROUP, DIMENSION = 4, 60, 32


def fitted_job(folder, vectors: np.ndarray, method: str, **params) -> tuple[Job, np.ndarray]:
    """A finished projection job (a row not stored anywhere) whose folder holds the
    transform fitted to ``vectors``; and the fitted points."""
    points, estimator = fit_projection(vectors, method, params)
    files = save_transform(folder, method, estimator)
    job = Job(id=1, kind="projection", params={"method": method, **params},
              result={"files": files}, artifact_dir=str(folder))
    return job, points


@pytest.fixture(scope="module")
def groups():
    return separated_groups(GROUPS, PER_GROUP, DIMENSION, scale=6.0, seed=3)


@pytest.mark.parametrize("n_components, whiten", [(2, False), (3, False), (2, True)])
def test_pca_places_rows_exactly_where_the_fit_projected_them(
        groups, tmp_path, n_components, whiten):
    vectors, _truth = groups
    job, points = fitted_job(tmp_path, vectors, "pca", n_components=n_components,
                             whiten=whiten)
    placed = place_new_points(job, vectors[::7])
    assert placed.shape == (len(vectors[::7]), n_components) and placed.dtype == np.float32
    assert np.allclose(placed, points[::7], atol=1e-4 * np.abs(points).max(), rtol=0)


def test_pca_places_held_out_rows_by_the_components_of_the_rows_it_was_fitted_on(
        groups, tmp_path):
    vectors, _truth = groups
    held_out = np.arange(len(vectors)) % 5 == 0
    job, points = fitted_job(tmp_path, vectors[~held_out], "pca", n_components=2)
    # the same map computed independently: principal axes of the fitted rows by SVD, in
    # double precision, each axis' sign taken from the fitted points
    fitted = vectors[~held_out].astype(np.float64)
    mean = fitted.mean(axis=0)
    axes = np.linalg.svd(fitted - mean, full_matrices=False)[2][:2]
    signs = np.sign(((fitted - mean) @ axes.T * points).sum(axis=0))
    expected = (vectors[held_out] - mean) @ axes.T * signs
    placed = place_new_points(job, vectors[held_out])
    assert np.allclose(placed, expected, atol=1e-4 * np.abs(expected).max(), rtol=0)


def test_umap_places_held_out_points_among_their_own_groups_points(groups, tmp_path):
    vectors, truth = groups
    held_out = np.arange(len(vectors)) % 6 == 0
    job, points = fitted_job(tmp_path, vectors[~held_out], "umap", n_components=2,
                             n_neighbors=10, min_dist=0.0, seed=1)
    assert (tmp_path / "umap_model.joblib").exists()
    placed = place_new_points(job, vectors[held_out])
    assert placed.shape == (held_out.sum(), 2) and np.isfinite(placed).all()
    # each placed point's 10 nearest fitted points on the map are of its own group
    _distances, nearest = cKDTree(points).query(placed, k=10)
    assert (truth[~held_out][nearest] == truth[held_out][:, None]).all()
    # and it is far nearer its own group's centre on the map than any other group's
    centres = np.stack([points[truth[~held_out] == group].mean(axis=0)
                        for group in range(GROUPS)])
    distances = np.linalg.norm(placed[:, None] - centres[None], axis=2)
    own = distances[np.arange(len(placed)), truth[held_out]]
    others = np.where(np.eye(GROUPS, dtype=bool)[truth[held_out]], np.inf, distances)
    assert (own < others.min(axis=1) / 3).all()


def test_a_job_that_saved_no_transform_cannot_place_and_says_refit(groups, tmp_path):
    vectors, _truth = groups
    job, _points = fitted_job(tmp_path, vectors, "pca", n_components=2)
    older = Job(id=2, kind="projection", params=job.params,
                result={"files": {"points": "points.npy"}}, artifact_dir=str(tmp_path))
    assert can_place(job) and not can_place(older)
    with pytest.raises(DomainError, match="refit it to place new items"):
        place_new_points(older, vectors[:3])


def test_vectors_that_do_not_fit_the_projection_are_refused(groups, tmp_path):
    vectors, _truth = groups
    job, _points = fitted_job(tmp_path, vectors, "pca", n_components=2)
    assert place_new_points(job, np.empty((0, DIMENSION))).shape == (0, 2)
    with pytest.raises(DomainError, match="dimensions") as refused:
        place_new_points(job, vectors[:3, :5])
    assert refused.value.field == "vectors"
    with pytest.raises(DomainError, match="2-D array"):
        place_new_points(job, vectors[0])
