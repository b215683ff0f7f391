"""Exact cosine ranking (ml.similarity) on constructed vectors whose order is known."""
import numpy as np
import pytest

from errors import DomainError
from ml.similarity import IndexCache, build_index, normalised, rank


DEGREES = (0, 7, 15, 26, 30, 38, 51, 64, 77, 95, 121, 170)  # no two equally far from 30°


def angles_index():
    """Vectors in the plane at the angles DEGREES (item id 100 + angle), rows shuffled."""
    degrees = np.array(DEGREES)
    vectors = np.stack([np.cos(np.radians(degrees)), np.sin(np.radians(degrees))], axis=1)
    item_ids = np.array([100 + d for d in degrees])
    shuffle = np.random.default_rng(0).permutation(len(degrees))
    # lengths differ: cosine must not care
    return build_index(item_ids[shuffle], vectors[shuffle] * (1 + shuffle[:, None]))


def test_order_and_distances_follow_the_angle_to_the_query():
    index = angles_index()
    ranking = rank(index, [130])  # the vector at 30°
    nearest_first = sorted(DEGREES, key=lambda d: abs(d - 30))
    assert ranking.item_ids.tolist() == [100 + d for d in nearest_first]
    angles = np.abs(np.array(ranking.item_ids) - 130)
    assert np.allclose(ranking.distances, 1 - np.cos(np.radians(angles)), atol=1e-6)
    assert np.all(np.diff(ranking.distances) >= 0)


def test_several_queries_rank_by_their_mean_direction():
    ranking = rank(angles_index(), [100, 138], limit=3)  # 0° and 38°: mean at 19°
    assert ranking.item_ids.tolist() == [115, 126, 130]  # 4°, 7°, 11° away


def test_limit_cutoff_and_excluded_items():
    index = angles_index()
    assert index.rows_by_id is None  # sparse ids: binary search
    ranking = rank(index, [100], max_distance=1 - np.cos(np.radians(20)),
                   exclude_item_ids=[107, 999])
    assert ranking.item_ids.tolist() == [100, 115]  # 7° excluded, 26° beyond the cutoff
    assert rank(index, [100], limit=2, exclude_item_ids=[100]).item_ids.tolist() == [107, 115]


def test_top_k_of_many_rows_equals_a_full_sort():
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((50_000, 16)).astype(np.float32)
    index = build_index(np.arange(50_000), vectors)
    assert index.rows_by_id is not None  # dense ids: looked up in a table
    excluded = np.arange(0, 50_000, 3)
    scores = index.matrix @ index.matrix[7]
    scores[excluded] = -np.inf
    full = np.argsort(-scores, kind="stable")[:300]
    ranking = rank(index, [7], limit=300, exclude_item_ids=[*excluded, -5, 10**7])
    assert ranking.item_ids.tolist() == full.tolist()


def test_zero_vectors_and_unknown_queries():
    index = build_index(np.array([1, 2, 3]), np.array([[1.0, 0], [0, 0], [1, 1]]))
    assert np.allclose(normalised(np.array([[0.0, 0.0]])), 0)
    assert rank(index, [1]).item_ids.tolist() == [1, 3, 2]  # the zero vector is last
    with pytest.raises(DomainError, match="none of the query items") as refused:
        rank(index, [42])
    assert refused.value.field == "query_item_ids"
    with pytest.raises(DomainError, match="cancel out"):
        rank(index, [2])


def test_cache_builds_once_and_drops_the_least_recently_used():
    built = []

    def builder(n):
        def build():
            built.append(n)
            return build_index(np.arange(n), np.ones((n, 4), np.float32))
        return build

    cache = IndexCache(max_bytes=2 * builder(100)().nbytes)
    built.clear()
    cache.get("a", builder(100))
    cache.get("a", builder(100))
    cache.get("b", builder(100))
    cache.get("a", builder(100))  # a is now the most recently used
    cache.get("c", builder(100))  # b goes
    assert built == [100, 100, 100] and len(cache) == 2
    cache.get("a", builder(100))
    assert len(built) == 3
