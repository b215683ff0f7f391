"""Exact cosine ranking of items by their feature vectors (numpy only: the web process uses it).

A :class:`SimilarityIndex` holds the vectors of one feature job as 16-bit codes
(``ml.cosine_codes``: half the memory of float32, cosines within a few 1e-6 of it), rows
sorted by item id, so ranking is a product scored in threads and a partial sort, exact for
the stored vectors; equal scores keep the item id order. Two match rules compare
items with several query items: ``any`` scores an item by its nearest query item (query
items of one class spread over the feature space each pull in their own neighbours), ``mean``
by the mean of the query items (whose neighbours, between them, may be of another class).
Neither wins on every kind of data, so :func:`match_rule_for` chooses one from the labels
so far: the rule under which half of each class's labeled items find the other half.

``IndexCache`` keeps a few indexes in memory per app (``services.Services``), keyed by
``ml.features.feature_version``: a feature job's own files never change, but rows appended
for newly arrived items give it a new version, so its index is rebuilt then, when its job
is gone, or when it is pushed out.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable, Optional, Sequence

import numpy as np

from errors import DomainError
from ml import cosine_codes
from ml.cosine_codes import CodedVectors

# How many times more candidates than asked for the sampled threshold aims to keep.
SAMPLE_MARGIN = 4
SAMPLE_SIZE = 20_000
# Item ids spread over at most this many times their count get a direct id → row table.
DENSE_SPAN = 8
# Rule "any" compares every item with every query item, and uses at most this many query
# items: a million items of 256 features took 0.8 s with 64 query items on two idle cores
# in float32 (3 items: 0.25 s; the mean: 0.1 s; as 16-bit codes on the same two cores busy
# with other work: 0.7 s against 0.9 s in float32, 3 items 0.18 s against 0.2 s), 256 items
# would take about 3 s, too slow for a page turn (it ranks again), and 64 neighbourhoods
# are already more than a page of 48 tiles can show.
MAX_QUERY_ITEMS = 64
QUERY_SAMPLE_SEED = 0
# The rule chosen from the labels compares the rules on at most this many labeled items (a
# seeded sample), so its cost stays the same at a million items (it only touches the
# labeled items' vectors) ...
CHOICE_ITEMS = 2000
# ... by ranking them for at most this many (class, seeded split) pairs: up to CHOICE_SPLITS
# splits of each class's labeled items (a split of few labels gives a noisy share), fewer
# with many classes, and a seeded sample of the classes beyond CHOICE_ROUNDS of them. Each
# pair ranks CHOICE_ITEMS items once per rule: about 0.1 s in all on two idle cores.
CHOICE_ROUNDS = 64
CHOICE_SPLITS = 8
# A class takes part with at least this many labeled items: a query half of two (one query
# item ranks alike under every rule) and a held-out half of two.
CHOICE_MIN_CLASS = 4
# The rule when the labels cannot tell (too few, or both rules score alike).
FALLBACK_MATCH = "mean"


@dataclass(frozen=True)
class Ranking:
    """Items, most similar first, with their cosine distance (1 - cosine similarity), by
    the match rule ``match``."""

    item_ids: np.ndarray
    distances: np.ndarray
    match: str


@dataclass(frozen=True)
class SimilarityIndex:
    item_ids: np.ndarray  # int64, ascending
    coded: CodedVectors  # the rows scaled to length 1, as codes (zero rows stay zero)
    # row of item id ``first_id + i`` at [i] (-1: none), when the ids are dense enough;
    # a binary search per id would miss the cache on every step after a ranking
    rows_by_id: Optional[np.ndarray] = None
    first_id: int = 0

    @property
    def nbytes(self) -> int:
        extra = self.rows_by_id.nbytes if self.rows_by_id is not None else 0
        return self.coded.nbytes + self.item_ids.nbytes + extra

    def positions(self, item_ids: Sequence[int]) -> np.ndarray:
        """Rows of ``item_ids`` that the index holds (others are left out)."""
        wanted = np.asarray(item_ids, dtype=np.int64)
        if len(self.item_ids) == 0:
            return wanted[:0]
        if self.rows_by_id is not None:
            offsets = wanted - self.first_id
            offsets = offsets[(offsets >= 0) & (offsets < len(self.rows_by_id))]
            rows = self.rows_by_id[offsets]
            return rows[rows >= 0].astype(np.int64)
        wanted = np.sort(wanted)
        rows = np.minimum(np.searchsorted(self.item_ids, wanted), len(self.item_ids) - 1)
        return rows[self.item_ids[rows] == wanted]


def build_index(item_ids: np.ndarray, vectors: np.ndarray) -> SimilarityIndex:
    item_ids = np.asarray(item_ids, dtype=np.int64)
    vectors = np.asarray(vectors)
    if len(item_ids) != len(vectors):
        raise ValueError(f"{len(item_ids)} item ids for {len(vectors)} vectors")
    if np.all(item_ids[1:] > item_ids[:-1]):  # inference writes rows in item order
        coded = cosine_codes.encode(vectors)
    else:
        order = np.argsort(item_ids, kind="stable")
        item_ids, coded = item_ids[order], cosine_codes.encode(vectors, order)
    if len(item_ids) == 0 or item_ids[-1] - item_ids[0] >= DENSE_SPAN * len(item_ids):
        return SimilarityIndex(item_ids, coded)
    rows_by_id = np.full(int(item_ids[-1] - item_ids[0]) + 1, -1, dtype=np.int32)
    rows_by_id[item_ids - item_ids[0]] = np.arange(len(item_ids), dtype=np.int32)
    return SimilarityIndex(item_ids, coded, rows_by_id, int(item_ids[0]))


def _query_rows(index: SimilarityIndex, query_item_ids: Sequence[int]) -> np.ndarray:
    rows = index.positions(query_item_ids)
    if len(rows) == 0:
        raise DomainError("none of the query items has a feature vector in this job; pick "
                          "items the job has seen (re-run inference after adding images)",
                          "query_item_ids")
    return rows


def query_vector(index: SimilarityIndex, query_item_ids: Sequence[int]) -> np.ndarray:
    """The normalised mean of the query items' normalised vectors."""
    mean = index.coded.decode(_query_rows(index, query_item_ids)).mean(axis=0)
    length = np.linalg.norm(mean)
    if length == 0:
        raise DomainError("the query items' vectors cancel out (or are zero); pick other "
                          "query items", "query_item_ids")
    return (mean / length).astype(np.float32)


def query_matrix(index: SimilarityIndex, query_item_ids: Sequence[int],
                 max_items: int = MAX_QUERY_ITEMS) -> np.ndarray:
    """The query items' normalised vectors (zero ones left out), at most ``max_items``.

    Above ``max_items``, a seeded sample rather than the last ones given: the query is a
    set (a selection, a class's labels) whose order says nothing about importance, a sample
    spreads over all of it, and the same query gives the same sample, so a page turn, which
    ranks again, keeps the order.
    """
    rows = np.unique(_query_rows(index, query_item_ids))
    if len(rows) > max_items:
        sample = np.random.default_rng(QUERY_SAMPLE_SEED).choice(rows, max_items, replace=False)
        rows = np.sort(sample)
    vectors = index.coded.decode(rows)
    vectors = vectors[np.any(vectors != 0, axis=1)]
    if len(vectors) == 0:
        raise DomainError("the query items' vectors are zero; pick other query items",
                          "query_item_ids")
    return vectors


def _nearest_to_any(index: SimilarityIndex, query_item_ids: Sequence[int]) -> np.ndarray:
    return cosine_codes.nearest_scores(index.coded, query_matrix(index, query_item_ids))


def _nearest_to_mean(index: SimilarityIndex, query_item_ids: Sequence[int]) -> np.ndarray:
    return cosine_codes.scores(index.coded, query_vector(index, query_item_ids))


# How an item's cosine similarity to several query items is scored, by name.
MATCH_RULES: dict[str, Callable[[SimilarityIndex, Sequence[int]], np.ndarray]] = {
    "any": _nearest_to_any, "mean": _nearest_to_mean}


def _top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest scores, highest first, equal scores in row order; exact.

    A threshold from a strided sample usually leaves a few thousand candidates, so the
    partial sort runs on those instead of on every row; when the threshold keeps too few,
    it runs on every row.
    """
    n = len(scores)
    candidates = np.arange(n)
    step = n // SAMPLE_SIZE
    if k < n and step > 1:
        sample = scores[::step]
        rank = min(len(sample) - 1, SAMPLE_MARGIN * k // step + 1)
        threshold = np.partition(sample, len(sample) - 1 - rank)[len(sample) - 1 - rank]
        kept = np.flatnonzero(scores >= threshold)
        if len(kept) >= k:
            candidates = kept
    if k < len(candidates):
        candidate_scores = scores[candidates]
        kth = np.partition(candidate_scores, len(candidates) - k)[len(candidates) - k]
        above = candidates[candidate_scores > kth]
        # of the rows scoring exactly the k-th score, the first ones (candidates ascend)
        tied = candidates[candidate_scores == kth][:k - len(above)]
        candidates = np.concatenate([above, tied])
    return candidates[np.lexsort((candidates, -scores[candidates]))]


def rank(index: SimilarityIndex, query_item_ids: Sequence[int], limit: Optional[int] = None,
         max_distance: Optional[float] = None,
         exclude_item_ids: Optional[Sequence[int]] = None,
         match: str = FALLBACK_MATCH) -> Ranking:
    """Items of ``index`` by cosine distance to the query items, nearest first: to the
    nearest of them (``match="any"``) or to their mean (``"mean"``, without labels to
    choose by: :func:`match_rule_for`).

    ``limit`` keeps the nearest ones, ``max_distance`` those within that distance (both
    may be given); ``exclude_item_ids`` (e.g. the labeled items) are left out.
    """
    if limit is not None and limit < 1:
        raise DomainError("limit must be at least 1", "limit")
    if max_distance is not None and not 0.0 <= max_distance <= 2.0:
        raise DomainError("max_distance is a cosine distance between 0 and 2", "max_distance")
    if match not in MATCH_RULES:
        raise DomainError(f"match '{match}' is not one of {', '.join(MATCH_RULES)}", "match")
    scores = MATCH_RULES[match](index, query_item_ids)
    if exclude_item_ids is not None and len(exclude_item_ids):
        scores[index.positions(exclude_item_ids)] = -np.inf
    if max_distance is not None:
        rows = np.flatnonzero(scores >= 1.0 - max_distance)
        rows = rows[np.argsort(-scores[rows], kind="stable")][:limit]
    else:
        rows = _top_rows(scores, min(limit or len(scores), len(scores)))
        rows = rows[np.isfinite(scores[rows])]
    distances = np.clip(1.0 - scores[rows], 0.0, 2.0)
    return Ranking(index.item_ids[rows], distances.astype(np.float32), match)


@dataclass(frozen=True)
class MatchChoice:
    """The match rule the labels so far favour, with what it rests on."""

    match: str
    # per rule, the mean over classes (and splits) of the share of a class's held-out half
    # among the items nearest to its query half; empty when the labels were too few
    shares: dict[str, float]
    classes: int  # classes with at least CHOICE_MIN_CLASS labeled items (0: too few labels)

    @property
    def nbytes(self) -> int:  # kept in an IndexCache, which bounds its entries by size
        return 256


def _labeled_sample(index: SimilarityIndex, labeled_item_ids: Sequence[int],
                    labels: Sequence[int], rng: np.random.Generator
                    ) -> tuple[SimilarityIndex, np.ndarray]:
    """A small index of the labeled items the index holds with a non-zero vector (at most
    CHOICE_ITEMS, a seeded sample), and their labels."""
    item_ids = np.asarray(labeled_item_ids, dtype=np.int64)
    labels = np.asarray(labels)
    if len(item_ids) != len(labels):
        raise ValueError(f"{len(item_ids)} labeled items for {len(labels)} labels")
    held = np.isin(item_ids, index.item_ids[index.positions(item_ids)])
    item_ids, labels = item_ids[held], labels[held]
    if len(item_ids) > CHOICE_ITEMS:
        keep = np.sort(rng.choice(len(item_ids), CHOICE_ITEMS, replace=False))
        item_ids, labels = item_ids[keep], labels[keep]
    order = np.argsort(item_ids, kind="stable")
    item_ids, labels = item_ids[order], labels[order]
    coded = index.coded.take(np.searchsorted(index.item_ids, item_ids))
    nonzero = coded.scales > 0
    return SimilarityIndex(item_ids[nonzero], coded.take(nonzero)), labels[nonzero]


def compare_match_rules(index: SimilarityIndex, labeled_item_ids: Sequence[int],
                        labels: Sequence[int], seed: int = 0) -> MatchChoice:
    """Which match rule finds a class's labeled items from others of its class.

    For each class with at least CHOICE_MIN_CLASS labeled items (at most CHOICE_ROUNDS of
    them, a seeded sample), seeded splits into a query half and a held-out half; every rule
    ranks the other labeled items (of all classes) by the query half, and scores the share
    of the held-out half among the |held-out| nearest. The rule with the higher mean over
    classes and splits wins; a tie, or no class with enough labels, gives FALLBACK_MATCH.
    ``classes`` counts the classes with enough labels, scored or not.
    """
    rng = np.random.default_rng(seed)
    sample, labels = _labeled_sample(index, labeled_item_ids, labels, rng)
    classes, counts = np.unique(labels, return_counts=True)
    members = [np.flatnonzero(labels == c) for c in classes[counts >= CHOICE_MIN_CLASS]]
    if not members:
        return MatchChoice(FALLBACK_MATCH, {}, 0)
    scored = members if len(members) <= CHOICE_ROUNDS else \
        [members[i] for i in np.sort(rng.choice(len(members), CHOICE_ROUNDS, replace=False))]
    splits = max(1, min(CHOICE_SPLITS, CHOICE_ROUNDS // len(scored)))
    shares: dict[str, list[float]] = {match: [] for match in MATCH_RULES}
    for _ in range(splits):
        for rows in scored:
            rows = rng.permutation(rows)
            query, held_out = rows[:(len(rows) + 1) // 2], rows[(len(rows) + 1) // 2:]
            for match, score in MATCH_RULES.items():
                try:
                    scores = score(sample, sample.item_ids[query])
                except DomainError:  # the query half's vectors cancel out: no share
                    continue
                scores[query] = -np.inf
                nearest = _top_rows(scores, len(held_out))
                shares[match].append(float(np.isin(nearest, held_out).mean()))
    means = {match: float(np.mean(found)) if found else 0.0 for match, found in shares.items()}
    best = max(means.values())
    winners = [match for match, share in means.items() if share >= best - 1e-9]
    return MatchChoice(winners[0] if len(winners) == 1 else FALLBACK_MATCH, means,
                       len(members))


def match_rule_for(index: SimilarityIndex, labeled_item_ids: Sequence[int],
                   labels: Sequence[int], seed: int = 0) -> str:
    """The match rule the labels so far favour (:func:`compare_match_rules`)."""
    return compare_match_rules(index, labeled_item_ids, labels, seed).match


class IndexCache:
    """A few similarity indexes kept in memory, least recently used dropped first.

    Bounded by total bytes; one lock, so two requests for the same index build it once.
    """

    def __init__(self, max_bytes: int = 3 << 30):
        self.max_bytes = max_bytes
        self._indexes: OrderedDict[Hashable, SimilarityIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], SimilarityIndex]) -> SimilarityIndex:
        with self._lock:
            if key in self._indexes:
                self._indexes.move_to_end(key)
                return self._indexes[key]
            index = build()
            self._indexes[key] = index
            while (len(self._indexes) > 1
                   and sum(i.nbytes for i in self._indexes.values()) > self.max_bytes):
                self._indexes.popitem(last=False)
            return index

    def __len__(self) -> int:
        return len(self._indexes)
