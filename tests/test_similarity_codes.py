"""Rankings from 16-bit codes scored in threads (ml.cosine_codes) against a brute-force
numpy product of the stored vectors: random and clustered data, both match rules, ties, zero
vectors, excluded items, cutoffs, tiny and empty indexes.

The scoring runs in blocks of a few rows and tasks of a few hundred, so small indexes go
through the threads, several tasks and partial blocks."""
import os
import signal

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from errors import DomainError
from ml import cosine_codes
from ml.cosine_codes import SCALE, encode, nearest_scores, scores
from ml.similarity import build_index, query_matrix, query_vector, rank

TOLERANCE = 1e-6  # float32 sums of 256 products, in another order than numpy's


@pytest.fixture(autouse=True)
def small_blocks_and_tasks(monkeypatch):
    monkeypatch.setattr(cosine_codes, "BLOCK_VALUES", 128 * 16)  # 128 rows of 16, 64 of 256
    monkeypatch.setattr(cosine_codes, "TASK_BLOCKS", 4)
    monkeypatch.setattr(cosine_codes, "THREADS", 2)


def unit(vectors):
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def random_vectors(n, dim, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def clustered_vectors(n, dim, seed=0):
    """Tight clusters around 5 centres: many near-equal scores at the top of a ranking."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((5, dim)).astype(np.float32)
    return centres[rng.integers(0, 5, n)] + 0.05 * rng.standard_normal((n, dim))


def brute_force(index, query_item_ids, match):
    """Every row's score, by one numpy product of the stored vectors."""
    vectors = index.coded.decode()
    if match == "mean":
        return vectors @ query_vector(index, query_item_ids)
    return (vectors @ query_matrix(index, query_item_ids).T).max(axis=1)


def assert_exact(ranking, index, reference, k):
    """The ranking is the k highest reference scores, highest first, with its distances."""
    got = reference[index.positions(ranking.item_ids)]
    expected = np.sort(reference[np.isfinite(reference)])[::-1][:k]
    assert len(ranking.item_ids) == len(expected) == len(set(ranking.item_ids.tolist()))
    assert np.allclose(got, expected, atol=TOLERANCE)
    assert np.allclose(ranking.distances, np.clip(1 - got, 0, 2), atol=TOLERANCE)
    assert np.all(np.diff(ranking.distances) >= 0)


@pytest.mark.parametrize("make", [random_vectors, clustered_vectors])
@pytest.mark.parametrize("match, queries", [("mean", 3), ("any", 1), ("any", 3), ("any", 10)])
def test_rankings_equal_a_brute_force_product(make, match, queries):
    n = 3073  # six tasks of 512 rows and one of a single row
    index = build_index(np.arange(10, 10 + n), make(n, 16))
    query = list(range(10, 10 + 7 * queries, 7))
    excluded = np.arange(10, 10 + n, 5)
    reference = brute_force(index, query, match)
    reference[index.positions(excluded)] = -np.inf
    for k in (1, 100, n):
        ranking = rank(index, query, limit=k, exclude_item_ids=excluded, match=match)
        assert not set(ranking.item_ids.tolist()) & set(excluded.tolist())
        assert_exact(ranking, index, reference, k)


def test_scores_of_threads_equal_one_product_of_the_stored_vectors():
    coded = encode(random_vectors(2003, 256, seed=1))
    queries = unit(random_vectors(9, 256, seed=2))
    vectors = coded.decode()
    assert np.allclose(scores(coded, queries[0]), vectors @ queries[0], atol=TOLERANCE)
    for few_or_many in (2, 9):
        assert np.allclose(nearest_scores(coded, queries[:few_or_many]),
                           (vectors @ queries[:few_or_many].T).max(axis=1), atol=TOLERANCE)


def test_stored_vectors_are_unit_vectors_within_half_a_step_of_the_originals():
    vectors = np.concatenate([random_vectors(1000, 256), np.eye(256)[:3], -np.eye(256)[:3],
                              np.zeros((2, 256))])
    coded = encode(vectors)
    assert coded.codes.dtype == np.int16 and coded.scales.dtype == np.float32
    # a row's largest component is the largest code
    assert np.array_equal(np.abs(coded.codes[:-2]).max(axis=1), np.full(1006, SCALE))
    stored = coded.decode()
    assert np.allclose(np.linalg.norm(stored[:-2], axis=1), 1, atol=1e-6)
    assert not stored[-2:].any() and not coded.scales[-2:].any()
    original = unit(vectors[:-2])
    steps = (stored[:-2] - original) / np.abs(original).max(axis=1, keepdims=True) * SCALE
    assert np.abs(steps).max() < 1  # half a step of rounding, then rescaled to length 1
    # cosines between stored vectors move by about 3e-6 at 256 features, 1e-5 at most
    moved = np.abs(stored[:1000] @ stored[0] - original[:1000] @ original[0])
    assert moved.max() < 1e-5 and moved.mean() < 3e-6


def test_rows_are_encoded_in_item_order_whatever_the_order_given():
    vectors = random_vectors(1200, 16)
    shuffle = np.random.default_rng(3).permutation(1200)
    shuffled = build_index(shuffle * 2, vectors)
    ordered = build_index(np.arange(1200) * 2, vectors[np.argsort(shuffle)])
    assert np.array_equal(shuffled.item_ids, ordered.item_ids)
    assert np.array_equal(shuffled.coded.codes, ordered.coded.codes)
    assert np.array_equal(shuffled.coded.scales, ordered.coded.scales)


@pytest.mark.parametrize("match, queries", [("mean", [0]), ("any", [0, 1]),
                                            ("any", list(range(5))), ("any", list(range(64)))])
def test_equal_vectors_score_equally_and_keep_their_item_order(match, queries):
    """Copies of one vector spread over blocks, tasks and the last partial block rank
    together, lowest item id first, and a limit inside them keeps the lowest ids."""
    rng = np.random.default_rng(4)
    vectors = random_vectors(2100, 64, seed=5)
    copies = np.sort(rng.choice(np.arange(100, 2100), 60, replace=False))
    copies[-1] = 2099  # the very last row
    # alike, and nearer to query item 0 (cosine 0.999) than any other item to any query
    vectors[copies] = vectors[0] + 0.04 * np.linalg.norm(vectors[0]) * np.eye(64)[5]
    index = build_index(np.arange(2100), vectors * rng.uniform(0.5, 2, (2100, 1)))
    ranked = rank(index, queries, exclude_item_ids=queries, match=match)
    assert ranked.item_ids[:60].tolist() == copies.tolist()
    assert len(set(ranked.distances[:60].tolist())) == 1
    assert ranked.distances[60] > ranked.distances[0]
    assert rank(index, queries, limit=25, exclude_item_ids=queries,
                match=match).item_ids.tolist() == copies[:25].tolist()


def test_zero_vectors_score_zero_and_cannot_be_queries():
    vectors = random_vectors(1500, 16)
    vectors[::4] = 0
    index = build_index(np.arange(1500), vectors)
    assert not index.coded.codes[::4].any()
    for match in ("mean", "any"):
        ranking = rank(index, [1, 2, 4], match=match)  # 4 is zero: left out of "any"
        distance = dict(zip(ranking.item_ids.tolist(), ranking.distances.tolist()))
        assert all(distance[i] == 1.0 for i in range(0, 1500, 4))
        assert_exact(ranking, index, brute_force(index, [1, 2, 4], match), 1500)
        with pytest.raises(DomainError):
            rank(index, [0, 4], match=match)


def test_vectors_with_nan_or_infinity_are_stored_as_zero_vectors():
    vectors = random_vectors(3, 4)
    vectors[1, 2], vectors[2, 0] = np.nan, np.inf
    coded = encode(vectors)
    assert coded.codes[0].any() and not coded.codes[1:].any() and not coded.scales[1:].any()
    ranking = rank(build_index(np.arange(3), vectors), [0])
    assert ranking.item_ids.tolist() == [0, 1, 2] and ranking.distances.tolist()[1:] == [1, 1]


def test_cutoff_with_limit_and_excluded_items():
    index = build_index(np.arange(2000), clustered_vectors(2000, 16, seed=6))
    reference = brute_force(index, [3], "mean")
    reference[[3, 4]] = -np.inf
    within = np.flatnonzero(reference >= 1 - 0.01)
    ranking = rank(index, [3], max_distance=0.01, exclude_item_ids=[3, 4])
    assert sorted(ranking.item_ids.tolist()) == within.tolist()
    assert_exact(ranking, index, reference, len(within))
    limited = rank(index, [3], limit=5, max_distance=0.01, exclude_item_ids=[3, 4])
    assert limited.item_ids.tolist() == ranking.item_ids[:5].tolist()


def test_tiny_and_empty_indexes():
    one = build_index(np.array([7]), np.array([[3.0, 4.0]]))
    assert rank(one, [7], limit=10).item_ids.tolist() == [7]
    assert rank(one, [7], exclude_item_ids=[7]).item_ids.tolist() == []
    empty = build_index(np.array([], dtype=np.int64), np.empty((0, 8), np.float32))
    assert empty.coded.codes.shape == (0, 8) and empty.nbytes == 0
    with pytest.raises(DomainError, match="none of the query items"):
        rank(empty, [1])


def test_a_forked_child_scores_with_threads_of_its_own():
    coded = encode(random_vectors(1200, 16))
    query = unit(random_vectors(1, 16))[0]
    expected = scores(coded, query)  # the parent's pool exists now
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child reports through the pipe)
        signal.alarm(20)  # a child waiting on threads it does not have ends, reporting nothing
        os.write(writer, b"1" if np.array_equal(scores(coded, query), expected) else b"0")
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    assert os.read(reader, 1) == b"1"


def test_blas_keeps_its_threads_after_threaded_scoring():
    before = [library["num_threads"] for library in threadpool_info()]
    scores(encode(random_vectors(1200, 16)), unit(random_vectors(1, 16))[0])
    assert [library["num_threads"] for library in threadpool_info()] == before
