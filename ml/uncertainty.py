"""How unsure a classifier is about each item, and where it contradicts the labels.

Scores are chosen by name from ``UNCERTAINTY`` (higher is more uncertain, 0 for a one-hot
prediction), so adding a measure is one entry. numpy only: the web process uses it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from errors import DomainError
from ml.features import rows_of

NO_CLASS = -1  # stands for a column without a class of the data set (label ids are positive)


def least_confidence(probabilities: np.ndarray) -> np.ndarray:
    """1 - the top probability."""
    return 1.0 - probabilities.max(axis=1)


def margin(probabilities: np.ndarray) -> np.ndarray:
    """1 - (top probability - second probability): 1 when the top two tie."""
    if probabilities.shape[1] < 2:
        return np.zeros(len(probabilities), dtype=probabilities.dtype)
    top_two = np.partition(probabilities, -2, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def entropy(probabilities: np.ndarray) -> np.ndarray:
    """Shannon entropy divided by its maximum log(C), so it lies in 0..1."""
    if probabilities.shape[1] < 2:
        return np.zeros(len(probabilities), dtype=probabilities.dtype)
    p = np.clip(probabilities, 0.0, 1.0)
    terms = p * np.log(np.where(p > 0, p, 1.0))  # 0 log 0 = 0
    return -terms.sum(axis=1) / np.log(probabilities.shape[1])


UNCERTAINTY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "least_confidence": least_confidence, "margin": margin, "entropy": entropy}


def uncertainty(probabilities: np.ndarray, method: str) -> np.ndarray:
    if method not in UNCERTAINTY:
        raise DomainError(f"method '{method}' is not one of {', '.join(UNCERTAINTY)}", "method")
    return UNCERTAINTY[method](np.asarray(probabilities, dtype=np.float64))


def most_uncertain(item_ids: np.ndarray, probabilities: np.ndarray, method: str,
                   limit: int, exclude_item_ids: Sequence[int] = ()
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, scores) of the ``limit`` most uncertain items, most uncertain first;
    ties keep item order. ``exclude_item_ids`` (e.g. the labeled ones) are left out."""
    scores = uncertainty(probabilities, method)
    keep = ~np.isin(item_ids, np.asarray(exclude_item_ids, dtype=np.int64))
    ids, scores = item_ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:limit]
    return ids[order], scores[order]


@dataclass(frozen=True)
class Contradiction:
    item_id: int
    label_id: int  # the item's label
    # the classifier's top class; None when the data set has no class of its name (a model
    # of another data set): ``predicted_column`` still names it among the model's classes
    predicted_label_id: Optional[int]
    predicted_column: int
    confidence: float  # the classifier's probability of its top class


def contradictions(item_ids: np.ndarray, probabilities: np.ndarray,
                   column_label_ids: Sequence[Optional[int]],
                   labeled_item_ids: Sequence[int],
                   labeled_label_ids: Sequence[int], min_confidence: float
                   ) -> list[Contradiction]:
    """Labeled items whose label the classifier's top class, at ``min_confidence`` or more,
    contradicts; most confident first. Items the classifier has not seen, or whose label it
    has no column for (a class made after training), cannot be judged and are left out."""
    if not 0.0 <= min_confidence <= 1.0:
        raise DomainError("min_confidence must be between 0 and 1", "min_confidence")
    labeled = np.asarray(labeled_item_ids, dtype=np.int64)
    labels = np.asarray(labeled_label_ids, dtype=np.int64)
    columns = np.array([NO_CLASS if label is None else label for label in column_label_ids],
                       dtype=np.int64)
    own, has_column = rows_of(columns, labels)
    rows, seen = rows_of(item_ids, labeled)
    keep = has_column & seen
    rows, own, labeled, labels = rows[keep], own[keep], labeled[keep], labels[keep]
    top = probabilities[rows].argmax(axis=1)
    confidence = probabilities[rows, top]
    found = np.flatnonzero((top != own) & (confidence >= min_confidence))
    found = found[np.argsort(-confidence[found], kind="stable")]
    return [Contradiction(int(labeled[i]), int(labels[i]),
                          None if columns[top[i]] == NO_CLASS else int(columns[top[i]]),
                          int(top[i]), float(confidence[i])) for i in found]
