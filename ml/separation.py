"""How well a feature source separates the classes labeled so far: among the labeled items,
the share of each one's nearest labeled neighbours (cosine) that carry its label, against
what chance would give. A source whose agreement is near chance makes similarity pages and
suggestions no better than paging through the data; the label page says so."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

NEIGHBOURS = 10
MAX_LABELED = 3000  # a sample of the labels keeps the check under a second
MIN_LABELED = 2 * NEIGHBOURS


@dataclass(frozen=True)
class Agreement:
    labeled: int  # labeled items checked
    agreement: Optional[float]  # share of neighbours with the same label; None: too few
    chance: Optional[float]  # the same share for labels drawn at random with these shares

    @property
    def separates(self) -> Optional[bool]:
        """Whether the source does clearly better than chance (a third of the way from
        chance to perfect); None when there are too few labels to tell."""
        if self.agreement is None:
            return None
        return self.agreement >= self.chance + (1 - self.chance) / 3


def label_agreement(item_ids: np.ndarray, vectors: np.ndarray, labeled_ids: np.ndarray,
                    labels: np.ndarray, seed: int = 0) -> Agreement:
    position = {int(item): row for row, item in enumerate(item_ids)}
    pairs = [(position[int(i)], int(label)) for i, label in zip(labeled_ids, labels)
             if int(i) in position]
    if len(pairs) < MIN_LABELED:
        return Agreement(len(pairs), None, None)
    if len(pairs) > MAX_LABELED:
        chosen = np.random.default_rng(seed).choice(len(pairs), MAX_LABELED, replace=False)
        pairs = [pairs[i] for i in chosen]
    rows = np.array([row for row, _ in pairs])
    classes = np.array([label for _, label in pairs])
    unit = np.asarray(vectors, dtype=np.float32)[rows]
    unit = unit / np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argpartition(-similarity, NEIGHBOURS, axis=1)[:, :NEIGHBOURS]
    agreement = float((classes[nearest] == classes[:, None]).mean())
    shares = np.unique(classes, return_counts=True)[1] / len(classes)
    return Agreement(len(pairs), agreement, float((shares ** 2).sum()))
