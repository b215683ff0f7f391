"""Suggested labels for the unlabeled items, from the labels made so far.

A logistic-regression model on one feature job's vectors, fitted anew whenever the labels
change (a fraction of a second for thousands of items), so suggestions always come from
the freshest labels and need no training job. Cross-validated predictions on the labeled
items say how often a suggestion of a class at a given confidence was right: the expected
precision of a page of suggestions, measured, not assumed. ``representative_items`` picks
the first items to label: typical of their region of feature space and spread over all of
it (cluster centres), so the first labels meet every class.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

from errors import DomainError
from ml.features import rows_of

FOLDS = 5
# The held-out check uses at most this many labeled items (a seeded sample), so that a page
# of suggestions stays quick however many labels exist.
MAX_HELD_OUT = 3000
# A precision estimate needs at least this many held-out predictions at the confidence.
MIN_SUPPORT = 10
REGULARIZATION = 1.0  # inverse strength (scikit-learn's C)
# Wider vectors (a classifier's 512 features) are first projected on their main directions:
# the model and its held-out check then fit several times faster, so a page follows an
# accepted page within seconds. 128 keeps a label_features job's two halves (its own 64
# and a contrastive job's 64) whole: projecting them to 64 was not measured.
MAX_DIMENSIONS = 128
PROJECTION_SAMPLE = 10_000  # rows the main directions are found from


@dataclass(frozen=True)
class SuggestionModel:
    label_ids: np.ndarray  # the classes, in column order
    item_ids: np.ndarray  # the unlabeled items, one row of ``probabilities`` each
    probabilities: np.ndarray  # float32 (unlabeled items, classes)
    labels_used: int  # labeled items the model was fitted on
    # Per labeled item checked (all, or a sample of MAX_HELD_OUT): the class predicted by a
    # model fitted without it, that prediction's probability, and the item's label.
    held_out_predicted: np.ndarray
    held_out_confidence: np.ndarray
    held_out_truth: np.ndarray

    @property
    def held_out_accuracy(self) -> Optional[float]:
        if not len(self.held_out_truth):
            return None
        return float((self.held_out_predicted == self.held_out_truth).mean())

    @property
    def nbytes(self) -> int:
        return int(self.probabilities.nbytes + self.item_ids.nbytes)

    def suggested(self) -> tuple[np.ndarray, np.ndarray]:
        """(suggested label id, its probability) of every unlabeled item."""
        columns = self.probabilities.argmax(axis=1)
        rows = np.arange(len(columns))
        return self.label_ids[columns], self.probabilities[rows, columns]

    def suggestions_of(self, item_ids: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Of the items ``item_ids``: which the model suggests a label for (unlabeled ones
        with a feature row), and for those the suggested label id and its probability."""
        rows, found = rows_of(self.item_ids, np.asarray(item_ids, dtype=np.int64))
        labels, confidence = self.suggested()
        return found, labels[rows[found]], confidence[rows[found]]

    def page(self, label_id: int, limit: int, offset: int = 0
             ) -> tuple[np.ndarray, np.ndarray]:
        """(item ids, confidences) of unlabeled items suggested as ``label_id``, most
        confident first."""
        labels, confidence = self.suggested()
        chosen = np.flatnonzero(labels == label_id)
        order = chosen[np.argsort(-confidence[chosen], kind="stable")][offset:offset + limit]
        return self.item_ids[order], confidence[order]

    def review_page(self, limit: int, offset: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next page to review: the unlabeled items the model is surest of, whatever
        their class, grouped by suggested class (the class of the surest item first), most
        confident first within a class: (item ids, suggested label ids, confidences).

        One class per page (the class surest on average) cost a quarter more actions on
        held-apart demo sets: its page ran into less confident items while another class
        still had sure ones."""
        return self.review_order(limit, offset + limit, offset)

    def review_order(self, page_size: int, count: int, start: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pages of ``review_page`` one after the other: the ``count`` surest suggestions
        from ``start`` on, grouped by class within each page of ``page_size``."""
        labels, confidence = self.suggested()
        ranked = np.argsort(-confidence, kind="stable")[start:count]
        pages = [_grouped_by_label(ranked[first:first + page_size], labels)
                 for first in range(0, len(ranked), page_size)]
        order = np.concatenate(pages) if pages else ranked
        return self.item_ids[order], labels[order], confidence[order]

    def page_precision(self, label_ids: np.ndarray, confidences: np.ndarray
                       ) -> Optional[float]:
        """Expected share right of a page of suggestions of any classes: per class, its
        held-out precision at the page's least confident suggestion of it, weighted by its
        items; None when a class on the page has no estimate."""
        if not len(label_ids):
            return None
        right = 0.0
        for label_id in np.unique(label_ids).tolist():
            of_class = label_ids == label_id
            precision = self.expected_precision(label_id, float(confidences[of_class].min()))
            if precision is None:
                return None
            right += precision * int(of_class.sum())
        return right / len(label_ids)

    def counts(self) -> dict[int, int]:
        """How many unlabeled items each class is suggested for."""
        labels, _ = self.suggested()
        return {int(label): int((labels == label).sum()) for label in self.label_ids}

    def expected_precision(self, label_id: int, min_confidence: float) -> Optional[float]:
        """Share right of the held-out suggestions of ``label_id`` made with at least
        ``min_confidence``; None when fewer than MIN_SUPPORT such suggestions exist."""
        made = (self.held_out_predicted == label_id) & \
            (self.held_out_confidence >= min_confidence)
        if made.sum() < MIN_SUPPORT:
            return None
        return float((self.held_out_truth[made] == label_id).mean())


def _grouped_by_label(rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``rows`` regrouped by their label, groups in order of first appearance, each group
    keeping the rows' order."""
    group_of: dict[int, int] = {}
    groups = [group_of.setdefault(label, len(group_of)) for label in labels[rows].tolist()]
    return rows[np.argsort(np.asarray(groups, dtype=np.int64), kind="stable")]


def _classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=REGULARIZATION, max_iter=500))


def _held_out(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class, its probability) of each labeled item by a model fitted without
    it (stratified folds; an item of a class with fewer labels than folds may be
    predicted wrong simply for lack of its class: a pessimistic estimate)."""
    from sklearn.model_selection import StratifiedKFold

    predicted = np.full(len(labels), -1, dtype=np.int64)  # -1: no prediction was possible
    confidence = np.zeros(len(labels), dtype=np.float32)
    folds = min(FOLDS, int(np.bincount(np.unique(labels, return_inverse=True)[1]).max()))
    if folds < 2:
        return predicted, confidence
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes smaller than the number of folds
        splits = list(splitter.split(vectors, labels))
    for train, test in splits:
        present = np.unique(labels[train])
        if len(present) < 2:
            predicted[test], confidence[test] = present[0], 1.0
            continue
        model = _classifier().fit(vectors[train], labels[train])
        probabilities = model.predict_proba(vectors[test])
        predicted[test] = model.classes_[probabilities.argmax(axis=1)]
        confidence[test] = probabilities.max(axis=1)
    return predicted, confidence


def _main_directions(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` projected on their MAX_DIMENSIONS main directions (principal
    components of a seeded sample), or as they are when no wider."""
    from sklearn.decomposition import PCA

    if vectors.shape[1] <= MAX_DIMENSIONS or len(vectors) <= MAX_DIMENSIONS:
        return vectors
    rng = np.random.default_rng(0)
    sample = rng.choice(len(vectors), min(PROJECTION_SAMPLE, len(vectors)), replace=False)
    pca = PCA(MAX_DIMENSIONS, svd_solver="randomized", random_state=0).fit(vectors[sample])
    return pca.transform(vectors).astype(np.float32)


def fit_suggestions(item_ids: np.ndarray, vectors: np.ndarray, labeled_ids: np.ndarray,
                    labels: np.ndarray) -> SuggestionModel:
    """The suggestion model of the items ``item_ids`` (rows of ``vectors``) given the
    labels ``labels`` of the items ``labeled_ids`` (items missing from ``item_ids`` are
    ignored). A DomainError when fewer than two classes carry labels."""
    item_ids = np.asarray(item_ids, dtype=np.int64)
    position = {int(item): row for row, item in enumerate(item_ids)}
    rows = np.array([position.get(int(i), -1) for i in labeled_ids], dtype=np.int64)
    known = rows >= 0
    rows, labels = rows[known], np.asarray(labels, dtype=np.int64)[known]
    classes = np.unique(labels)
    if len(classes) < 2:
        raise DomainError("suggestions need labeled items of at least two classes; label a "
                          "few items of each class first", "labels")
    vectors = _main_directions(np.asarray(vectors, dtype=np.float32))
    model = _classifier().fit(vectors[rows], labels)
    unlabeled = np.ones(len(item_ids), dtype=bool)
    unlabeled[rows] = False
    probabilities = model.predict_proba(vectors[unlabeled]).astype(np.float32) \
        if unlabeled.any() else np.zeros((0, len(classes)), np.float32)
    checked = np.arange(len(rows))
    if len(rows) > MAX_HELD_OUT:
        checked = np.sort(np.random.default_rng(0).choice(len(rows), MAX_HELD_OUT,
                                                          replace=False))
    predicted, confidence = _held_out(vectors[rows[checked]], labels[checked])
    return SuggestionModel(model.classes_.astype(np.int64), item_ids[unlabeled], probabilities,
                           len(rows), predicted, confidence, labels[checked])


def representative_items(item_ids: np.ndarray, vectors: np.ndarray, count: int,
                         seed: int = 0) -> np.ndarray:
    """``count`` items to label first: the item nearest each of ``count`` k-means centres,
    largest cluster first (typical items, spread over the whole feature space)."""
    from sklearn.cluster import MiniBatchKMeans

    vectors = np.asarray(vectors, dtype=np.float32)
    count = min(count, len(item_ids))
    if count < 1:
        return np.zeros(0, dtype=np.int64)
    kmeans = MiniBatchKMeans(count, random_state=seed, n_init=3,
                             batch_size=4096).fit(vectors)
    # each item's distance to its own cluster's centre: typical items are near it
    distances = ((vectors - kmeans.cluster_centers_[kmeans.labels_]) ** 2).sum(axis=1)
    chosen = []
    for cluster in np.argsort(-np.bincount(kmeans.labels_, minlength=count), kind="stable"):
        members = np.flatnonzero(kmeans.labels_ == cluster)
        if len(members):
            chosen.append(members[np.argmin(distances[members])])
    if len(chosen) < count:  # empty clusters: the most typical of the other items
        taken = set(chosen)
        rest = [row for row in np.argsort(distances, kind="stable") if row not in taken]
        chosen += rest[:count - len(chosen)]
    return item_ids[np.asarray(chosen, dtype=np.int64)]
