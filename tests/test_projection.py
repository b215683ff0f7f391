"""Projections and clusterings recover the groups of a constructed data set."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from errors import DomainError
from ml.projection import CLUSTERINGS, PROJECTIONS, check_method, cluster, project, \
    renumber_by_size
from tests.constructed import separated_groups

GROUPS, PER_GROUP, DIMENSION = 5, 80, 48


@pytest.fixture(scope="module")
def blobs():
    """Five groups in 48-D: random centres far apart, unit noise, shuffled."""
    return separated_groups(GROUPS, PER_GROUP, DIMENSION, scale=6.0, seed=7)


@pytest.mark.parametrize("n_components", [2, 3])
def test_pca_then_kmeans_recovers_the_groups(blobs, n_components):
    vectors, truth = blobs
    points = project(vectors, "pca", {"n_components": n_components})
    assert points.shape == (len(vectors), n_components) and points.dtype == np.float32
    found = cluster(points, "kmeans", {"n_clusters": GROUPS})
    assert adjusted_rand_score(truth, found) > 0.9


def test_umap_then_hdbscan_recovers_the_groups(blobs):
    vectors, truth = blobs
    points = project(vectors, "umap", {"n_neighbors": 15, "min_dist": 0.0, "seed": 1})
    found = cluster(points, "hdbscan", {"min_cluster_size": 20})
    assert adjusted_rand_score(truth, found) > 0.9
    assert set(np.unique(found)) <= {-1, 0, 1, 2, 3, 4}


def test_dbscan_on_the_vectors_recovers_the_groups_and_marks_outliers_as_noise(blobs):
    vectors, truth = blobs
    outlier = np.full((1, DIMENSION), 100.0, dtype=np.float32)
    found = cluster(np.vstack([vectors, outlier]), "dbscan", {"eps": 12.0, "min_samples": 5})
    assert found[-1] == -1
    assert adjusted_rand_score(truth, found[:-1]) > 0.9


def test_clusters_are_numbered_by_size_with_noise_kept():
    labels = np.array([4, 4, -1, 7, 7, 7, 4, 2, -1, 7])
    assert renumber_by_size(labels).tolist() == [1, 1, -1, 0, 0, 0, 1, 2, -1, 0]
    assert renumber_by_size(np.array([-1, -1])).tolist() == [-1, -1]


def test_every_method_runs_with_its_default_parameters(blobs):
    vectors, _truth = blobs
    for name in PROJECTIONS:
        assert project(vectors, name, {}).shape == (len(vectors), 2)
    for name in CLUSTERINGS:
        found = cluster(vectors, name, {})
        assert found.dtype == np.int32 and len(found) == len(vectors)


@pytest.mark.parametrize("registry, method, params, field", [
    (PROJECTIONS, "tsne", {}, "params.method"),
    (PROJECTIONS, "pca", {"n_neighbors": 5}, "params.n_neighbors"),
    (PROJECTIONS, "umap", {"metric": "hamming"}, "params.metric"),
    (PROJECTIONS, "umap", {"n_components": 4}, "params.n_components"),
    (CLUSTERINGS, "dbscan", {"eps": 0}, "params.eps"),
    (CLUSTERINGS, "kmeans", {"n_clusters": 2.5}, "params.n_clusters"),
])
def test_bad_parameters_are_refused_naming_the_field(registry, method, params, field):
    with pytest.raises(DomainError) as refused:
        check_method(registry, method, params)
    assert refused.value.field == field and field in str(refused.value)


def test_too_few_vectors_to_project_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        project(np.zeros((2, 8), np.float32), "pca", {})
