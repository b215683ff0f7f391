"""The intensity transforms shared by thumbnails and models, applied to raw values.

Scattering images span several decades of counts, so display and training both see
``log`` (min-max scale to [0, 1], then log(r + 1e-12)) and percentile clipping of the
(log-)values, rescaled to [0, 1]. Masked, NaN and infinite pixels take no part in the
statistics and come out as 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

LOG_EPSILON = 1e-12
_ABOVE_LOG_MINIMUM = np.float32(np.log(LOG_EPSILON)) + 1  # a log value above a zero's


@dataclass(frozen=True)
class Transform:
    log: bool = False
    pmin: float = 1.0
    pmax: float = 99.0

    def __post_init__(self) -> None:
        for name in ("pmin", "pmax"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not 0 <= value <= 100:
                raise ValueError(f"{name} must be a percentile between 0 and 100, got {value!r}")
        if self.pmin >= self.pmax:
            raise ValueError(f"pmin ({self.pmin:g}) must be below pmax ({self.pmax:g})")

    @classmethod
    def of(cls, params: dict) -> "Transform":
        """The transform a job's (checked) ``log``, ``pmin`` and ``pmax`` parameters name."""
        return cls(log=params["log"], pmin=params["pmin"], pmax=params["pmax"])


def percentiles(values: np.ndarray, percents: Sequence[float]) -> np.ndarray:
    """``np.percentile(values, percents)`` bit for bit (its default 'linear' method) for
    finite, non-empty ``values``, but from a full sort, which numpy vectorises: 3.5-5x
    faster than np.percentile's partition from 4,096 to 4 million values (71 -> 20 us for
    a 64-px image, a tenth of its thumbnail's render)."""
    return sorted_percentiles(np.sort(values, axis=None), percents)


def sorted_percentiles(ordered: np.ndarray, percents: Sequence[float]) -> np.ndarray:
    """``percentiles`` of a flat array already sorted. The arithmetic is numpy's, in its
    order of operations (exact from either end), on Python floats: numpy's calls on arrays
    of two values took most of the time after the sort."""
    count = ordered.size
    found = []
    for percent in percents:
        virtual = (count - 1) * (float(percent) / 100)
        below = min(math.floor(virtual), count - 1)
        low, high = ordered[below], ordered[min(below + 1, count - 1)]
        weight = virtual - below
        step = float(high - low)  # subtracted in the values' own type, as numpy does
        found.append(float(high) - step * (1 - weight) if weight >= 0.5
                     else float(low) + step * weight)
    return np.array(found, dtype=np.float64)


def _valid_pixels(values: np.ndarray, mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Where values count (mask and finite), or None when every pixel does."""
    valid = None
    if mask is not None:
        if mask.shape != values.shape:
            raise ValueError(f"the mask is {mask.shape[::-1]} pixels but the image is "
                             f"{values.shape[::-1]}; give a mask of the image's size")
        valid = mask.astype(bool, copy=False)
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            valid = finite if valid is None else valid & finite
    return valid


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    values -= low
    values *= 1.0 / (high - low)
    return values


def apply_transform(raw: np.ndarray, transform: Transform,
                    mask: Optional[np.ndarray] = None) -> np.ndarray:
    """float32 values in [0, 1] of a 2-D array; ``mask`` is True where pixels are kept."""
    values = np.array(raw, dtype=np.float32)  # always a copy: scaled in place below
    valid = _valid_pixels(values, mask)
    counted = values if valid is None else values[valid]
    out = np.zeros_like(values)
    if counted.size == 0:
        return out
    low, high = float(counted.min()), float(counted.max())
    if low == high:
        return out
    if transform.log:
        # Masked pixels may fall outside [low, high]; their NaNs are zeroed at the end.
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.log(_scale(values, low, high) + np.float32(LOG_EPSILON), out=values)
        # sorted once: the pixels above the minimum, their range and percentiles follow
        counted = np.sort(values if valid is None else values[valid], axis=None)
        # Pixels at the minimum (beam stop, module gaps, zero counts) sit at log(1e-12),
        # far below the rest; left in the percentiles they would claim half of the grey
        # range, so the percentiles are taken over the pixels above the minimum.
        above_minimum = counted[np.searchsorted(counted, _ABOVE_LOG_MINIMUM, side="right"):]
        # ... unless they are all one value (a two-level image: a mask, a thresholded frame)
        if above_minimum.size and above_minimum[-1] > above_minimum[0]:
            counted = above_minimum
        low, high = float(counted[0]), float(counted[-1])
    if (transform.pmin, transform.pmax) != (0, 100):
        percents = (transform.pmin, transform.pmax)
        plow, phigh = sorted_percentiles(counted, percents) if transform.log \
            else percentiles(counted, percents)
        # A mostly flat image (e.g. 99 % zeros) has equal percentiles; its full range
        # still shows its few bright pixels instead of a blank tile.
        if phigh > plow:
            low, high = float(plow), float(phigh)
    np.clip(_scale(values, low, high), 0.0, 1.0, out=out)
    if valid is not None:
        out[~valid] = 0.0
    return out
