"""Features of a 2-D scattering pattern that need no training: what a scientist looks at
around the beam centre.

The beam centre is found from the pattern itself (Friedel symmetry: elastic scattering
is centrosymmetric, so the image's self-convolution peaks at twice the centre). Around
it, the log intensities are binned in q (radius) and azimuth; the features describe:

- the radial profile and its sharp part (rings are bumps on a smooth fall-off),
- per q band, the azimuthal harmonics (arcs and textured rings have strong even
  harmonics, a lattice of peaks has many) and how peaked the azimuth is (spots),
- how alike the azimuthal profiles of neighbouring q bands are (streaks and arcs keep
  their angle through q, isolated peaks do not).

Pixels at zero or below (beam stop, module gaps, masked pixels) and non-finite ones are
left out. ``scattering_features`` is the public function; it knows nothing of the app.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.transforms import percentiles

WORK_SIDE = 128  # images are binned down to at most this side first
Q_BINS = 24
AZIMUTH_BINS = 32
HARMONICS = 8
MIN_OVERLAP = 0.25  # share of the valid pixels a candidate centre's symmetry must cover


BLOB_Z = 4.0  # a blob: connected pixels this many noise levels above their q band's mean
BLOB_FEATURES = 9
TOP = 8  # per-band measures are summarised by their largest values (any q, any angle)


@dataclass(frozen=True)
class FeatureLayout:
    """Names of the feature vector's parts, in order, with their lengths."""

    parts: tuple[tuple[str, int], ...] = (
        ("radial_slope", 2), ("radial_detail_top", TOP), ("radial_detail_spectrum", TOP),
        ("azimuthal_harmonics_mean", HARMONICS), ("azimuthal_harmonics_max", HARMONICS),
        ("azimuthal_contrast_top", TOP), ("azimuthal_peakiness_top", TOP),
        ("band_coherence", 3), ("valid_share", 1), ("blobs", BLOB_FEATURES))

    @property
    def size(self) -> int:
        return sum(length for _name, length in self.parts)


LAYOUT = FeatureLayout()
FEATURE_DIM = LAYOUT.size


def _bin_down(image: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the valid pixels of each block, so that neither side exceeds WORK_SIDE."""
    factor = max(1, int(np.ceil(max(image.shape) / WORK_SIDE)))
    if factor == 1:
        return np.where(valid, image, 0.0), valid
    rows, cols = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    shape = (rows // factor, factor, cols // factor, factor)
    weights = valid[:rows, :cols].reshape(shape).sum(axis=(1, 3)).astype(np.float64)
    sums = np.where(valid, image, 0.0)[:rows, :cols].reshape(shape).sum(axis=(1, 3))
    return np.divide(sums, weights, out=np.zeros_like(sums), where=weights > 0), weights > 0


def _log_intensity(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log values scaled to the image's own range, and where they are valid."""
    values = np.asarray(image, dtype=np.float64)
    valid = np.isfinite(values) & (values > 0)
    if not valid.any():
        return np.zeros_like(values), valid
    logs = np.log(np.where(valid, values, 1.0))
    low, high = percentiles(logs[valid], (1, 99.5))
    scaled = np.clip((logs - low) / max(high - low, 1e-9), 0.0, 1.0)
    return np.where(valid, scaled, 0.0), valid


def find_beam_centre(values: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """(row, column) of the centre of symmetry of ``values`` (only ``valid`` pixels count)."""
    height, width = values.shape
    weights = valid.astype(np.float64)
    centred = np.where(valid, values - values[valid].mean(), 0.0) if valid.any() else weights
    shape = (2 * height, 2 * width)
    # Self-convolution: sum over u of x(u) x(s - u), largest at s = 2 * centre.
    signal = np.fft.irfft2(np.fft.rfft2(centred, shape) ** 2, shape)
    overlap = np.fft.irfft2(np.fft.rfft2(weights, shape) ** 2, shape)
    enough = overlap > MIN_OVERLAP * max(weights.sum(), 1.0)
    if not enough.any():
        return (height - 1) / 2, (width - 1) / 2
    score = np.where(enough, signal / np.maximum(overlap, 1.0), -np.inf)
    row, col = np.unravel_index(int(np.argmax(score)), shape)
    return row / 2, col / 2


@dataclass(frozen=True)
class PolarGrid:
    """Each pixel's offset from the centre, q band and azimuth bin."""

    dy: np.ndarray
    dx: np.ndarray
    q_bin: np.ndarray
    phi_bin: np.ndarray


def _polar_grid(shape: tuple[int, int], centre: tuple[float, float]) -> PolarGrid:
    rows, cols = np.indices(shape, dtype=np.float64)
    dy, dx = rows - centre[0], cols - centre[1]
    corners = [np.hypot(r - centre[0], c - centre[1])
               for r in (0, shape[0] - 1) for c in (0, shape[1] - 1)]
    q_bin = np.minimum((np.hypot(dy, dx) / (max(corners) + 1e-9) * Q_BINS).astype(int),
                       Q_BINS - 1)
    phi_bin = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * AZIMUTH_BINS).astype(int) \
        % AZIMUTH_BINS
    return PolarGrid(dy, dx, q_bin, phi_bin)


def _polar_means(values: np.ndarray, valid: np.ndarray, grid: PolarGrid) -> np.ndarray:
    """Mean value per (q band, azimuth bin); NaN where a bin has no valid pixel."""
    index = (grid.q_bin * AZIMUTH_BINS + grid.phi_bin)[valid]
    size = Q_BINS * AZIMUTH_BINS
    sums = np.bincount(index, weights=values[valid], minlength=size)
    counts = np.bincount(index, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / counts).reshape(Q_BINS, AZIMUTH_BINS)


def _filled(polar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empty bins take their band's median (or the overall median); which bands had data."""
    band_has_data = np.isfinite(polar).any(axis=1)
    overall = np.nanmedian(polar) if band_has_data.any() else 0.0
    medians = np.where(band_has_data, np.nanmedian(np.where(band_has_data[:, None], polar, 0.0),
                                                   axis=1), overall)
    return np.where(np.isfinite(polar), polar, medians[:, None]), band_has_data


def _smooth(profile: np.ndarray, width: int = 3) -> np.ndarray:
    kernel = np.ones(2 * width + 1) / (2 * width + 1)
    padded = np.pad(profile, width, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _blob_features(values: np.ndarray, valid: np.ndarray, grid: PolarGrid,
                   radial: np.ndarray) -> np.ndarray:
    """What stands out of the q bands' background: connected bright blobs, counted by shape
    (compact spots, radial streaks, arcs along the azimuth) and strength."""
    from scipy import ndimage

    residual = np.where(valid, values - radial[grid.q_bin], 0.0)
    counts = np.bincount(grid.q_bin[valid], minlength=Q_BINS)
    noise = np.bincount(grid.q_bin[valid], weights=np.abs(residual[valid]), minlength=Q_BINS)
    noise = 1.25 * noise / np.maximum(counts, 1) + 1e-3  # mean |deviation| -> sigma
    z = residual / noise[grid.q_bin]
    bright = valid & (z > BLOB_Z)
    labels, found = ndimage.label(bright, structure=np.ones((3, 3)))
    if found == 0:
        return np.array([bright.mean(), (valid & (z > 2)).mean(), 0, 0, 0, 0, 0, 0, 0])
    index = labels[bright]

    def total(weights):
        return np.bincount(index, weights=weights, minlength=found + 1)[1:]

    area = total(np.ones(index.size))
    dy, dx = grid.dy[bright], grid.dx[bright]
    my, mx = total(dy) / area, total(dx) / area
    cyy = total(dy * dy) / area - my ** 2 + 1 / 12
    cxx = total(dx * dx) / area - mx ** 2 + 1 / 12
    cxy = total(dx * dy) / area - mx * my
    norm = np.hypot(my, mx) + 1e-9
    uy, ux = my / norm, mx / norm  # the radial direction at the blob
    radial_spread = uy * uy * cyy + 2 * ux * uy * cxy + ux * ux * cxx
    tangential_spread = ux * ux * cyy - 2 * ux * uy * cxy + uy * uy * cxx
    elongation = 0.5 * np.log(np.maximum(radial_spread, 1e-3) /
                              np.maximum(tangential_spread, 1e-3))
    peak = np.zeros(found)
    np.maximum.at(peak, index - 1, z[bright])
    large = area >= 3
    return np.array([
        bright.mean(), (valid & (z > 2)).mean(), np.log1p(found),
        np.log1p((large & (np.abs(elongation) < 0.5)).sum()),  # compact spots
        np.log1p((large & (elongation >= 0.5)).sum()),  # along q: streaks
        np.log1p((large & (elongation <= -0.5)).sum()),  # along the azimuth: arcs
        float((elongation * area).sum() / area.sum()), np.log1p(area.max()),
        np.log1p(np.median(peak))])


def _top(values: np.ndarray, count: int = TOP) -> np.ndarray:
    """The ``count`` largest values, largest first: where in q they sit does not matter."""
    return np.sort(values)[::-1][:count]


def scattering_features(image: np.ndarray) -> np.ndarray:
    """The float32 feature vector (``FEATURE_DIM`` values) of one 2-D detector image."""
    values, valid = _log_intensity(image)
    values, valid = _bin_down(values, valid)
    centre = find_beam_centre(values, valid)
    grid = _polar_grid(values.shape, centre)
    polar, band_has_data = _filled(_polar_means(values, valid, grid))
    radial = polar.mean(axis=1)
    bands = np.arange(Q_BINS) / Q_BINS
    slope = np.polyfit(bands[band_has_data], radial[band_has_data], 1) \
        if band_has_data.sum() >= 2 else np.zeros(2)
    radial_detail = radial - _smooth(radial)
    detail_spectrum = np.abs(np.fft.rfft(radial_detail))[1:TOP + 1]
    azimuthal = polar - radial[:, None]
    spectrum = np.abs(np.fft.rfft(azimuthal, axis=1))[:, 1:HARMONICS + 1] / AZIMUTH_BINS
    contrast = azimuthal.std(axis=1)
    spread = np.median(np.abs(azimuthal), axis=1) + 1e-3
    peakiness = (azimuthal.max(axis=1) - np.median(azimuthal, axis=1)) / spread
    norms = np.linalg.norm(azimuthal, axis=1) + 1e-9
    coherence = (azimuthal[:-1] * azimuthal[1:]).sum(axis=1) / (norms[:-1] * norms[1:])
    weights = band_has_data.astype(np.float64)
    harmonics_mean = (spectrum * weights[:, None]).sum(axis=0) / max(weights.sum(), 1.0)
    vector = np.concatenate([
        slope, _top(np.abs(radial_detail)), detail_spectrum, harmonics_mean,
        spectrum.max(axis=0), _top(contrast), _top(np.log1p(peakiness)),
        [coherence.mean(), np.median(coherence), coherence.max()], [valid.mean()],
        _blob_features(values, valid, grid, radial)])
    return np.nan_to_num(vector, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def to_normal_scores(features: np.ndarray) -> None:
    """Each column, in place, to the normal quantiles of its ranks over the data set: every
    feature then has the same bell-shaped spread whatever its units, and a few extreme
    values (a saturated blob count, a hot pixel) no longer outweigh the rest of the vector.
    Ties share a score; a constant column becomes 0. Plain standardization (mean and
    spread) cost about a tenth more actions in the labeling benchmark on held-apart demo
    sets."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    count = len(features)
    for column in range(features.shape[1]):
        ranks = rankdata(np.asarray(features[:, column]))
        features[:, column] = ndtri((ranks - 0.5) / count).astype(np.float32)


def normal_scores_against(features: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The score :func:`to_normal_scores` gives each row of ``features`` in a data set of
    the ``reference`` rows (each column sorted ascending: the raw features of a data set)
    plus that one row: a new item is placed among the data set's items without moving them.
    """
    from scipy.special import ndtri

    count = len(reference) + 1
    scores = np.empty(np.shape(features), dtype=np.float32)
    for column in range(scores.shape[1]):
        values = np.asarray(features[:, column])
        below = np.searchsorted(reference[:, column], values, "left")
        ties = np.searchsorted(reference[:, column], values, "right") - below
        # the average rank of the row and the reference values it ties with
        ranks = below + 1 + ties / 2
        scores[:, column] = ndtri((ranks - 0.5) / count).astype(np.float32)
    return scores
