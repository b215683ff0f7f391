"""Fitting a projection on a seeded sample and placing the other vectors in chunks: held-out
points land where a full fit puts them, within a tolerance, for PCA and UMAP."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from ml.projection import fit_on_sample, fit_projection
from tests.constructed import separated_groups


def elongated_cloud(n: int, seed: int = 5) -> np.ndarray:
    """Vectors in 12-D whose spread is 10 and 4 along two random orthogonal axes, 0.3 along
    the others: a PCA of any few hundred of them finds the same two axes."""
    rng = np.random.default_rng(seed)
    axes, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    scales = np.r_[10.0, 4.0, np.full(10, 0.3)]
    return (rng.normal(size=(n, 12)) * scales @ axes.T + 7.0).astype(np.float32)


def signs_aligned(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``points`` with each axis flipped where it points against ``reference``'s (a PCA
    axis has no preferred sign)."""
    return points * np.sign((points * reference).sum(axis=0))


def test_pca_fitted_on_a_sample_places_held_out_points_where_a_full_fit_does():
    vectors, spread = elongated_cloud(n=4000), np.array([10.0, 4.0])
    full, _ = fit_projection(vectors, "pca", {"n_components": 2})
    fitted = fit_on_sample(vectors, "pca", {"n_components": 2}, sample=1000, seed=4, chunk=500)
    assert fitted.points.shape == (len(vectors), 2) and fitted.points.dtype == np.float32
    assert len(fitted.sample_rows) == 1000 and np.all(np.diff(fitted.sample_rows) > 0)
    held_out = np.setdiff1d(np.arange(len(vectors)), fitted.sample_rows)
    aligned = signs_aligned(fitted.points, full)
    # the sample's mean is the origin: the map is shifted by its error, under a tenth of
    # each axis' spread
    shift = aligned.mean(axis=0)
    assert (np.abs(shift) < 0.1 * spread).all()
    # beyond that shift, on average a few hundredths of the spread, at most a quarter
    error = np.abs(aligned[held_out] - shift - full[held_out]) / spread
    assert (error.mean(axis=0) < 0.05).all() and (error.max(axis=0) < 0.25).all()
    # the sample's own points are its fit, unchanged
    alone, _ = fit_projection(vectors[fitted.sample_rows], "pca", {"n_components": 2})
    assert np.allclose(fitted.points[fitted.sample_rows], alone, atol=1e-4)


def test_chunks_and_seeds_change_nothing_but_the_sample():
    vectors = elongated_cloud(n=1000)
    calls = []
    small = fit_on_sample(vectors, "pca", {}, sample=200, seed=1, chunk=64,
                          on_chunk=lambda done, total: calls.append((done, total)))
    large = fit_on_sample(vectors, "pca", {}, sample=200, seed=1, chunk=10_000)
    assert np.allclose(small.points, large.points, atol=1e-5)
    assert calls[-1] == (800, 800) and len(calls) == 13
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    other = fit_on_sample(vectors, "pca", {}, sample=200, seed=2)
    assert not np.array_equal(other.sample_rows, small.sample_rows)
    # no more vectors than the sample: the full fit
    whole = fit_on_sample(vectors, "pca", {}, sample=1000)
    assert np.array_equal(whole.points, fit_projection(vectors, "pca", {})[0])
    assert np.array_equal(whole.sample_rows, np.arange(1000))


def test_a_stop_raised_between_chunks_stops_the_placing():
    def stop(done, _total):
        raise RuntimeError(f"stopped after {done}")

    with pytest.raises(RuntimeError, match="stopped after 100"):
        fit_on_sample(elongated_cloud(n=600), "pca", {}, sample=100, chunk=100, on_chunk=stop)


def test_umap_fitted_on_a_sample_places_held_out_points_among_their_groups_as_a_full_fit():
    groups, per_group = 5, 120
    vectors, truth = separated_groups(groups, per_group, 24, scale=6.0, seed=11)
    params = {"n_neighbors": 10, "min_dist": 0.0, "seed": 3}
    full, _ = fit_projection(vectors, "umap", params)
    fitted = fit_on_sample(vectors, "umap", params, sample=200, seed=3, chunk=150)
    held_out = np.setdiff1d(np.arange(len(vectors)), fitted.sample_rows)
    assert len(held_out) == len(vectors) - 200 and np.isfinite(fitted.points).all()

    def own_group_share(points: np.ndarray) -> float:
        """Share of the held-out points whose 10 nearest sample points on the map are
        all of their own group."""
        _distances, nearest = cKDTree(points[fitted.sample_rows]).query(points[held_out], k=10)
        same = truth[fitted.sample_rows][nearest] == truth[held_out][:, None]
        return float(same.all(axis=1).mean())

    assert own_group_share(full) > 0.99
    assert own_group_share(fitted.points) >= own_group_share(full) - 0.01
