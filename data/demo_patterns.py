"""Drawing one synthetic 2-D X-ray scattering pattern of a named class (see data.demo).

Each image has a jittered beam centre, a q^-n diffuse background (slightly anisotropic),
the features of its class, Poisson counting noise (0 to tens of thousands of counts), a
beam stop with its holder arm, and optionally detector module gaps. Classes are named
features joined by '+': ``rings`` (powder rings), ``arcs`` (textured, oriented partial
rings), ``peaks`` (a single-crystal lattice of Bragg spots), ``streaks`` (lines through
the beam centre or radial rays); ``empty`` has the background only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable, Optional

import numpy as np
from PIL import Image, ImageDraw

DEMO_CLASSES = ("empty", "rings", "arcs", "peaks", "streaks", "rings+peaks", "arcs+streaks")
DTYPES = ("uint16", "float32")
RADIAL_STEP = 0.25  # pixels per bin of radial profiles
ANGULAR_BINS = 1024
UINT16_MAX = 65535


def _log_uniform(rng: np.random.Generator, low: float, high: float, n=None):
    return np.exp(rng.uniform(math.log(low), math.log(high), n))


class Geometry:
    """Radius and angle bins around a centre, computed once on a grid twice the image size.

    An image with its beam centre at (cy, cx) takes a window of these grids (views, no
    arithmetic), so the per-image cost of the geometry is nothing.
    """

    def __init__(self, size: int):
        self.size = size
        offsets = np.arange(-size, size, dtype=np.float32)
        dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
        # Bin indices as intp, the type np.take works with: no conversion per image.
        self.rbin = (np.hypot(dx, dy) * (1 / RADIAL_STEP)).astype(np.intp)
        phi = np.arctan2(dy, dx)
        self.phibin = ((phi + np.pi) * (ANGULAR_BINS / (2 * np.pi))).astype(np.intp) \
            % ANGULAR_BINS
        self.n_rbins = int(self.rbin.max()) + 1
        self.radii = (np.arange(self.n_rbins, dtype=np.float32) + 0.5) * RADIAL_STEP
        self.angles = (np.arange(ANGULAR_BINS, dtype=np.float32) + 0.5) \
            * (2 * np.pi / ANGULAR_BINS) - np.pi

    def window(self, cy: int, cx: int) -> tuple[np.ndarray, np.ndarray]:
        rows = slice(self.size - cy, 2 * self.size - cy)
        cols = slice(self.size - cx, 2 * self.size - cx)
        return self.rbin[rows, cols], self.phibin[rows, cols]


@dataclass
class _Pattern:
    """One image being drawn: its geometry window, background and expected counts."""

    rng: np.random.Generator
    geometry: Geometry
    cy: int
    cx: int
    unit: float  # pixels per pixel of a 256-pixel detector: features scale with size
    orientation: float  # the sample's axis, shared by arcs and streaks
    beamstop_radius: float

    def __post_init__(self):
        self.rbin, self.phibin = self.geometry.window(self.cy, self.cx)
        self.radii, self.angles = self.geometry.radii, self.geometry.angles
        size = self.geometry.size
        self.counts = np.zeros((size, size), dtype=np.float32)
        self.background = np.zeros(self.geometry.n_rbins, dtype=np.float32)
        # to the farthest corner
        self.max_radius = math.hypot(max(self.cy, size - 1 - self.cy),
                                     max(self.cx, size - 1 - self.cx))

    def add_profiles(self, radial: np.ndarray, angular: np.ndarray) -> None:
        """Add counts that are a radial profile times an angular one (both float32)."""
        values = radial.take(self.rbin)
        values *= angular.take(self.phibin)
        self.counts += values

    def background_at(self, radius) -> np.ndarray:
        return self.background[np.minimum((np.asarray(radius) / RADIAL_STEP).astype(int),
                                          len(self.background) - 1)]

    def ring_profile(self, radii: np.ndarray, widths: np.ndarray,
                     heights: np.ndarray) -> np.ndarray:
        """Gaussian rings in radius, as a radial profile."""
        profile = np.zeros_like(self.background)
        for radius, width, height in zip(radii, widths, heights):
            near = np.abs(self.radii - radius) < 5 * width
            profile[near] += height * np.exp(-0.5 * ((self.radii[near] - radius) / width) ** 2)
        return profile


# ---------------------------------------------------------------- features

def _background(p: _Pattern) -> None:
    """Diffuse scattering I0 (1 + (q/qc)^2)^(-n/2) plus a flat level, slightly anisotropic."""
    rng = p.rng
    core = rng.uniform(3, 9) * p.unit
    p.background[:] = _log_uniform(rng, 2e4, 3e5) * (1 + (p.radii / core) ** 2) \
        ** (-rng.uniform(2.0, 4.0) / 2)
    p.background += rng.uniform(0.3, 3.0)
    anisotropy = rng.uniform(0, 0.3)
    angular = 1 + anisotropy * np.cos(2 * (p.angles - p.orientation - np.pi / 2))
    p.add_profiles(p.background, angular.astype(np.float32))


def _ring_set(p: _Pattern, n: int, contrast: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """Radii, widths and heights of ``n`` rings, ``contrast`` times the background under them."""
    rng = p.rng
    # Out to 90 % of the half-width: most of each ring falls on the detector.
    low, high = p.beamstop_radius + 12 * p.unit, 0.45 * p.geometry.size
    radii = np.sort(rng.uniform(low, high, n))
    widths = rng.uniform(0.5, 3.0, n) * p.unit
    heights = p.background_at(radii) * _log_uniform(rng, *contrast, n) + rng.uniform(10, 60, n)
    return radii, widths, heights


def _rings(p: _Pattern) -> None:
    """Isotropic powder rings, with some grainy intensity along each ring."""
    profile = p.ring_profile(*_ring_set(p, p.rng.integers(2, 7), contrast=(0.5, 20)))
    spectrum = np.zeros(ANGULAR_BINS // 2 + 1, dtype=complex)
    spectrum[4:40] = np.exp(1j * p.rng.uniform(0, 2 * np.pi, 36))  # crystallite-scale ripple
    grain = np.fft.irfft(spectrum, ANGULAR_BINS)
    grain *= p.rng.uniform(0.0, 0.25) / np.abs(grain).max()
    p.add_profiles(profile, (1 + grain).astype(np.float32))


def _arcs(p: _Pattern) -> None:
    """Partial rings centred on the sample axis (and often on the axis at 90 degrees)."""
    rng = p.rng
    for turn in (0.0, np.pi / 2)[:rng.integers(1, 3)]:
        # Stronger than rings: an arc covers a fraction of the ring's angles.
        profile = p.ring_profile(*_ring_set(p, rng.integers(1, 4), contrast=(2, 40)))
        # von Mises-like on the doubled angle: a symmetric pair of arcs, 14 to 60 degrees wide
        sharpness = _log_uniform(rng, 1.5, 25.0)
        angle = p.orientation + turn + rng.normal(0, 0.05)
        angular = np.exp(sharpness * (np.cos(2 * (p.angles - angle)) - 1))
        p.add_profiles(profile, angular.astype(np.float32))


def _peaks(p: _Pattern) -> None:
    """Bragg spots of a 2-D reciprocal lattice through the beam centre, Friedel-symmetric."""
    rng = p.rng
    lengths = rng.uniform(16, 40, 2) * p.unit
    first = rng.uniform(0, np.pi)
    angles = np.array([first, first + rng.uniform(np.pi / 3, 2 * np.pi / 3)])
    basis = lengths[:, None] * np.stack([np.sin(angles), np.cos(angles)], axis=1)  # (y, x)
    reach = int(math.ceil(1.5 * p.max_radius / lengths.min()))
    h, k = np.meshgrid(np.arange(-reach, reach + 1), np.arange(0, reach + 1), indexing="ij")
    half = (k > 0) | ((k == 0) & (h > 0))  # one of each Friedel pair (G, -G)
    hk = np.stack([h[half], k[half]], axis=1)
    spots = hk @ basis
    distance = np.hypot(spots[:, 0], spots[:, 1])
    inside = (distance > p.beamstop_radius) & (distance < p.max_radius)
    spots, distance = spots[inside], distance[inside]
    keep = rng.random(len(spots)) < rng.uniform(0.4, 1.0)  # only reflections in condition
    spots, distance = spots[keep], distance[keep]
    falloff = rng.uniform(0.4, 0.9) * p.max_radius  # Debye-Waller-like decay with |G|
    heights = _log_uniform(rng, 1000, 40000) * rng.exponential(1.0, len(spots)) \
        * np.exp(-(distance / falloff) ** 2)  # Wilson statistics: exponential intensities
    spots = np.concatenate([spots, -spots]) + (p.cy, p.cx)
    _splat_spots(p, spots, np.concatenate([heights, heights]), rng.uniform(0.6, 1.6) * p.unit)


def _splat_spots(p: _Pattern, centres: np.ndarray, heights: np.ndarray, sigma: float) -> None:
    """Add Gaussian spots of equal width at (y, x) ``centres`` (sub-pixel positions)."""
    reach = int(math.ceil(3 * sigma))
    offsets = np.arange(-reach, reach + 1)
    base = np.floor(centres).astype(np.int64)
    rows = base[:, 0, None, None] + offsets[None, :, None]
    cols = base[:, 1, None, None] + offsets[None, None, :]
    values = heights[:, None, None] * np.exp(
        -((rows - centres[:, 0, None, None]) ** 2 + (cols - centres[:, 1, None, None]) ** 2)
        / (2 * sigma ** 2))
    rows, cols = np.broadcast_arrays(rows, cols)
    size = p.counts.shape[0]
    inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    flat = rows[inside] * size + cols[inside]
    p.counts += np.bincount(flat, weights=values[inside], minlength=size * size) \
        .reshape(p.counts.shape).astype(np.float32)


def _line_band(p: _Pattern, angle: float, half_width: float) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the pixels within ``half_width`` of the line through the beam centre
    at ``angle``: walked along its longer axis, so only the band is ever computed."""
    cos, sin = math.cos(angle), math.sin(angle)
    shallow = abs(cos) >= abs(sin)
    size = p.counts.shape[0]
    steps = np.arange(size)[:, None]
    slope, centre, cross_centre = (sin / cos, p.cx, p.cy) if shallow else (cos / sin, p.cy, p.cx)
    reach = int(math.ceil(half_width / max(abs(cos), abs(sin))))
    across = np.rint(cross_centre + (steps - centre) * slope).astype(int) \
        + np.arange(-reach, reach + 1)[None, :]
    steps, across = np.broadcast_arrays(steps, across)
    inside = (across >= 0) & (across < size)
    steps, across = steps[inside], across[inside]
    return (across, steps) if shallow else (steps, across)


def _streaks(p: _Pattern) -> None:
    """Either lines through the centre across the sample axis, or one-sided radial rays."""
    rng = p.rng
    if rng.random() < 0.5:
        n_lines = rng.integers(1, 3)  # across the sample axis, sometimes along it too
        angles = p.orientation + np.pi / 2 + np.array([0, np.pi / 2])[:n_lines] \
            + rng.normal(0, 0.05, n_lines)
        two_sided = True
    else:
        angles = rng.uniform(0, 2 * np.pi, rng.integers(3, 8))
        two_sided = False
    start = p.background_at(p.beamstop_radius)
    for angle in angles:
        width = rng.uniform(0.7, 3.0) * p.unit
        rows, cols = _line_band(p, angle, 5 * width)  # further out a streak adds ~0
        dx, dy = cols - p.cx, rows - p.cy
        across = dx * math.sin(angle) - dy * math.cos(angle)
        along = dx * math.cos(angle) + dy * math.sin(angle)
        if two_sided:
            along = np.abs(along)
        decay = (1 + np.maximum(along, 0) / p.beamstop_radius) ** -rng.uniform(1.0, 2.0)
        line = (start * rng.uniform(0.3, 2.0)) * decay * np.exp(-0.5 * (across / width) ** 2)
        p.counts[rows, cols] += np.where(along > 0, line, 0).astype(np.float32)


FEATURES: dict[str, Callable[[_Pattern], None]] = {
    "rings": _rings,
    "arcs": _arcs,
    "peaks": _peaks,
    "streaks": _streaks,
}


def features_of(label: str) -> list[Callable[[_Pattern], None]]:
    if label == "empty":
        return []
    names = label.split("+")
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise ValueError(f"unknown demo class '{label}': use 'empty' or features from "
                         f"{', '.join(FEATURES)} joined by '+' (e.g. {', '.join(DEMO_CLASSES)})")
    return [FEATURES[name] for name in names]


# ---------------------------------------------------------------- detector

class CountingNoise:
    """Poisson samples by table look-up: ~5x faster than Generator.poisson, which alone
    would take most of the time of an image.

    Below ``EXACT_BELOW`` counts a sample is the Poisson quantile of a uniform number
    (expectations rounded on a fine square-root grid, uniforms to 1/2048); above it, the
    normal approximation with its skewness correction, from the same uniform number.
    """

    EXACT_BELOW = 32.0
    LEVELS_PER_ROOT = 64  # expectation grid: sqrt(lam) in steps of 1/64
    QUANTILES = 2048

    def __init__(self):
        levels = (np.arange(int(math.sqrt(self.EXACT_BELOW) * self.LEVELS_PER_ROOT) + 2)
                  / self.LEVELS_PER_ROOT) ** 2
        counts = np.arange(4 * int(self.EXACT_BELOW) + 16)
        log_factorial = np.concatenate([[0.0], np.cumsum(np.log(counts[1:]))])
        log_levels = np.log(np.maximum(levels, 1e-30))[:, None]  # level 0: always 0 counts
        log_pmf = counts * log_levels - levels[:, None] - log_factorial
        cdf = np.cumsum(np.exp(log_pmf), axis=1)
        quantiles = (np.arange(self.QUANTILES) + 0.5) / self.QUANTILES
        self.table = np.concatenate([np.searchsorted(row, quantiles) for row in cdf]) \
            .astype(np.float32)
        normal = NormalDist()
        self.normal = np.array([normal.inv_cdf(q) for q in quantiles], dtype=np.float32)
        self.max_level = len(levels) - 1

    def sample(self, rng: np.random.Generator, expected: np.ndarray) -> np.ndarray:
        root = np.sqrt(expected)
        quantile = (rng.random(expected.shape, dtype=np.float32) * self.QUANTILES) \
            .astype(np.int32)
        level = np.minimum(root * self.LEVELS_PER_ROOT + 0.5, self.max_level).astype(np.int32)
        exact = self.table.take(level * self.QUANTILES + quantile)
        z = self.normal.take(quantile)
        approximate = np.rint(expected + root * z + (z * z - 1) / 6)
        return np.where(expected < self.EXACT_BELOW, exact, np.maximum(approximate, 0))


def _beamstop(p: _Pattern) -> np.ndarray:
    """True on the beam stop disc and its holder arm running to the detector edge."""
    arm_angle = p.rng.integers(0, 4) * np.pi / 2 + p.rng.uniform(-0.4, 0.4)
    arm_width = 2 * p.beamstop_radius * p.rng.uniform(0.3, 0.6)
    size, radius = p.counts.shape[0], p.beamstop_radius
    mask = Image.new("1", (size, size))  # drawn by Pillow: 10x faster than array geometry
    draw = ImageDraw.Draw(mask)
    draw.ellipse([p.cx - radius, p.cy - radius, p.cx + radius, p.cy + radius], fill=1)
    end = (p.cx + 2 * size * math.cos(arm_angle), p.cy + 2 * size * math.sin(arm_angle))
    draw.line([(p.cx, p.cy), end], fill=1, width=max(1, round(arm_width)))
    return np.asarray(mask)


def module_gaps(size: int) -> np.ndarray:
    """True on the insensitive gaps between detector modules (3 x 2 modules, fixed)."""
    gaps = np.zeros((size, size), dtype=bool)
    row_gap, col_gap = max(2, round(size * 0.027)), max(1, round(size * 0.011))
    for fraction in (1 / 3, 2 / 3):
        start = round(size * fraction) - row_gap // 2
        gaps[start:start + row_gap] = True
    start = size // 2 - col_gap // 2
    gaps[:, start:start + col_gap] = True
    return gaps


def draw_pattern(label: str, geometry: Geometry, noise: CountingNoise,
                 rng: np.random.Generator, dtype: str = "uint16",
                 gaps: Optional[np.ndarray] = None) -> np.ndarray:
    """One synthetic detector image of class ``label``."""
    size = geometry.size
    unit = size / 256
    jitter = np.clip(rng.normal(0, 0.05 * size, 2), -0.12 * size, 0.12 * size)
    cy, cx = (size // 2 + np.rint(jitter)).astype(int)
    pattern = _Pattern(rng, geometry, int(cy), int(cx), unit,
                       orientation=rng.integers(0, 4) * np.pi / 2 + rng.normal(0, 0.15),
                       beamstop_radius=rng.uniform(7, 13) * unit)
    _background(pattern)
    for feature in features_of(label):
        feature(pattern)
    counts = noise.sample(rng, pattern.counts)
    counts[_beamstop(pattern)] = 0
    if gaps is not None:
        counts[gaps] = 0
    if dtype == "uint16":
        return np.minimum(counts, UINT16_MAX).astype(np.uint16)
    # Reduced data: counts normalised by the incident-beam monitor.
    return counts / np.float32(_log_uniform(rng, 500, 5000))
