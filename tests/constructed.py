"""Data with a known answer that tests build themselves."""
from __future__ import annotations

import numpy as np


def separated_groups(groups: int, per_group: int, dimension: int, scale: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(float32 vectors, group of each) of ``groups`` groups: random centres ``scale``
    apart, unit noise around them, rows shuffled."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=scale, size=(groups, dimension))
    truth = np.repeat(np.arange(groups), per_group)
    vectors = centres[truth] + rng.normal(size=(len(truth), dimension))
    order = rng.permutation(len(truth))
    return vectors[order].astype(np.float32), truth[order]
