"""Exact cosine ranking (ml.similarity) on constructed vectors whose order is known.

The index keeps vectors as 16-bit codes (ml.cosine_codes): distances from the true angles
are compared within 1e-5, rankings with the cosines of the stored vectors
(tests/test_similarity_codes.py compares them with a brute-force product).
"""
import numpy as np
import pytest

from errors import DomainError
from ml.similarity import (CHOICE_ITEMS, FALLBACK_MATCH, MATCH_RULES, MAX_QUERY_ITEMS,
                           IndexCache, build_index, compare_match_rules, match_rule_for,
                           query_matrix, rank)


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
    assert np.allclose(ranking.distances, 1 - np.cos(np.radians(angles)), atol=1e-5)
    assert np.all(np.diff(ranking.distances) >= 0)


def test_several_queries_rank_by_their_mean_direction():
    ranking = rank(angles_index(), [100, 138], limit=3, match="mean")  # 0° and 38°: mean at 19°
    assert ranking.item_ids.tolist() == [115, 126, 130]  # 4°, 7°, 11° away


def test_several_queries_rank_by_the_nearest_of_them_with_match_any():
    ranking = rank(angles_index(), [100, 138], limit=5, exclude_item_ids=[100, 138],
                   match="any")
    assert ranking.match == "any"
    assert ranking.item_ids.tolist() == [107, 130, 126, 151, 115]  # 7°, 8°, 12°, 13°, 15°
    assert np.allclose(ranking.distances, 1 - np.cos(np.radians([7, 8, 12, 13, 15])),
                       atol=1e-5)


def class_in_two_clusters_and_another_between():
    """Items 0..29 near 0° and 30..59 near 90° (one class), 60..89 near 45° (another), in
    three dimensions with noise of a few degrees; (index, class of each item)."""
    centres = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]]) / np.sqrt([[1], [1], [2]])
    cluster = np.repeat(np.arange(3), 30)
    noise = 0.05 * np.random.default_rng(2).standard_normal((90, 3))
    return build_index(np.arange(90), centres[cluster] + noise), (cluster == 2).astype(int)


def test_any_ranks_the_query_class_first_where_the_mean_lies_in_another():
    index, item_class = class_in_two_clusters_and_another_between()
    query = [0, 1, 2, 30, 31, 32]  # three of each cluster of class 0
    ranked = {match: rank(index, query, exclude_item_ids=query, match=match)
              for match in MATCH_RULES}
    assert set(item_class[ranked["mean"].item_ids[:30]]) == {1}
    assert set(item_class[ranked["any"].item_ids[:54]]) == {0}  # all of class 0 first
    vectors = index.coded.decode()
    nearest = (vectors @ vectors[query].T).max(axis=1)
    assert np.allclose(ranked["any"].distances, 1 - nearest[ranked["any"].item_ids], atol=1e-6)
    assert all(0 <= r.distances.min() and r.distances.max() <= 2 for r in ranked.values())


def test_the_labels_choose_any_where_a_class_lies_in_two_clusters():
    index, item_class = class_in_two_clusters_and_another_between()
    labeled = np.concatenate([np.arange(0, 8), np.arange(30, 38), np.arange(60, 68)])
    choice = compare_match_rules(index, labeled, item_class[labeled])
    # half of class 0's labels find the other half by the nearest of them, not by their
    # mean, which lies among class 1
    assert choice.match == "any" and choice.classes == 2
    assert choice.shares["any"] > choice.shares["mean"] + 0.2
    assert match_rule_for(index, labeled, item_class[labeled], seed=5) == "any"


def classes_in_noisy_blobs(seed=0):
    """Three classes of 40 items around orthogonal centres in 64 dimensions, with noise
    about as long as a centre: an item's nearest neighbours are often of another class, the
    mean of a few items of a class lies near its centre; (index, class of each item)."""
    rng = np.random.default_rng(seed)
    item_class = np.repeat(np.arange(3), 40)
    vectors = np.eye(64)[item_class] + 0.35 * rng.standard_normal((120, 64))
    return build_index(np.arange(120), vectors), item_class


def test_the_labels_choose_mean_where_classes_are_noisy_blobs():
    index, item_class = classes_in_noisy_blobs()
    labeled = np.concatenate([np.flatnonzero(item_class == c)[:12] for c in range(3)])
    choice = compare_match_rules(index, labeled, item_class[labeled])
    assert choice.match == "mean" and choice.classes == 3
    assert choice.shares["mean"] > choice.shares["any"] + 0.1
    # the unlabeled items agree: a class's page by the mean of its labels is purer
    pages = {match: np.mean([np.mean(item_class[rank(
        index, labeled[item_class[labeled] == c], 20, exclude_item_ids=labeled,
        match=match).item_ids] == c) for c in range(3)]) for match in MATCH_RULES}
    assert pages["mean"] > pages["any"]


def test_too_few_labels_choose_the_fallback():
    index, item_class = class_in_two_clusters_and_another_between()
    assert FALLBACK_MATCH == "mean"
    # three labels per class at most (two from a cluster of class 0 and one of the other):
    # no query half and held-out half of two
    labeled = np.array([0, 1, 30, 60, 61, 62])
    choice = compare_match_rules(index, labeled, item_class[labeled])
    assert choice == compare_match_rules(index, [], [])
    assert (choice.match, choice.shares, choice.classes) == ("mean", {}, 0)
    # labeled items the index does not hold do not count
    unknown = np.array([1000, 1001, 1002, 1003])
    assert match_rule_for(index, np.concatenate([labeled, unknown]),
                          np.concatenate([item_class[labeled], [0, 0, 0, 0]])) == "mean"
    with pytest.raises(ValueError, match="3 labeled items for 2 labels"):
        compare_match_rules(index, [0, 1, 2], [0, 0])


def test_the_choice_from_more_than_choice_items_labels_is_seeded():
    rng = np.random.default_rng(6)
    item_class = rng.integers(0, 5, 3 * CHOICE_ITEMS)
    vectors = np.eye(8)[item_class] + 0.5 * rng.standard_normal((3 * CHOICE_ITEMS, 8))
    index = build_index(np.arange(3 * CHOICE_ITEMS), vectors)
    labeled = rng.permutation(3 * CHOICE_ITEMS)[:2 * CHOICE_ITEMS]
    first = compare_match_rules(index, labeled, item_class[labeled])
    assert first == compare_match_rules(index, labeled, item_class[labeled])
    assert first.classes == 5 and set(first.shares) == set(MATCH_RULES)


def test_at_most_max_query_items_a_seeded_sample_whatever_their_order():
    vectors = np.random.default_rng(4).standard_normal((1000, 16))
    index = build_index(np.arange(1000), vectors)
    many = list(range(3 * MAX_QUERY_ITEMS // 2))
    chosen = query_matrix(index, many)
    assert chosen.shape == (MAX_QUERY_ITEMS, 16)
    assert np.array_equal(chosen, query_matrix(index, many[::-1]))
    assert len(query_matrix(index, many[:10])) == 10
    # each query item used is at distance 0 from itself; no other item is
    ranking = rank(index, many, match="any")
    assert np.sum(ranking.distances < 1e-6) == MAX_QUERY_ITEMS


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
    vectors = index.coded.decode()
    scores = vectors @ vectors[7]
    scores[excluded] = -np.inf
    full = np.argsort(-scores, kind="stable")[:300]
    ranking = rank(index, [7], limit=300, exclude_item_ids=[*excluded, -5, 10**7])
    assert ranking.item_ids.tolist() == full.tolist()


def test_zero_vectors_and_unknown_queries():
    index = build_index(np.array([1, 2, 3]), np.array([[1.0, 0], [0, 0], [1, 1]]))
    assert rank(index, [1]).item_ids.tolist() == [1, 3, 2]  # the zero vector is last
    with pytest.raises(DomainError, match="none of the query items") as refused:
        rank(index, [42])
    assert refused.value.field == "query_item_ids"
    with pytest.raises(DomainError, match="cancel out"):
        rank(index, [2], match="mean")
    with pytest.raises(DomainError, match="are zero"):
        rank(index, [2], match="any")
    with pytest.raises(DomainError, match="not one of any, mean") as refused:
        rank(index, [1], match="median")
    assert refused.value.field == "match"


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
