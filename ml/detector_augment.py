"""Random views of detector images for self-supervised training: what a detector image
may undergo without changing what it shows.

On top of ``ml.training.Augment`` (rotation about the centre, flips, gain and offset):
counting noise at a random exposure, a small shift of the centre, and masked bands and a
central disc like module gaps and a beam stop. Every draw is per image, from the caller's
CPU generator, so a seed gives the same views; views are made on the CPU (the Poisson
draws need a CPU generator) and moved to the training device by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ml.training import Augment

# Counts at the brightest pixel of a view: from photon-starved to well exposed.
EXPOSURE_RANGE = (8.0, 512.0)
BAND_WIDTH_RANGE = (0.02, 0.08)  # of the side
MAX_BEAM_STOP = 0.08  # radius, of the side


@dataclass(frozen=True)
class DetectorAugment:
    geometry: Augment = field(default_factory=Augment)
    counting_noise: bool = True
    shift: float = 0.0  # largest shift of the centre, as a share of the side
    mask: float = 0.0  # chance that a view gets a masked band and a beam-stop disc

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A random view of each image of a (batch, 1, H, W) CPU tensor in [0, 1]."""
        out = self.geometry(batch, generator) if self.geometry.active else batch.clone()
        if self.shift > 0:
            out = _shifted(out, self.shift, generator)
        if self.counting_noise:
            out = _counted(out, generator)
        if self.mask > 0:
            out = out * _masks(out.shape, self.mask, generator)
        return out


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _shifted(batch: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by up to ``share`` of its side either way; what comes in is 0."""
    n = len(batch)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    # affine_grid's coordinates span 2 per side: a shift of s sides is 2 s.
    theta[:, :, 2] = 2 * share * (2 * torch.rand(n, 2, generator=generator) - 1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _counted(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Poisson counts of the image at a log-uniform random exposure, scaled back."""
    low, high = (torch.log(torch.tensor(v)) for v in EXPOSURE_RANGE)
    exposure = torch.exp(_uniform(len(batch), float(low), float(high), generator))
    exposure = exposure.view(-1, 1, 1, 1)
    counts = torch.poisson(batch.clamp(0, 1) * exposure, generator=generator)
    return (counts / exposure).clamp_(0, 1)


def _masks(shape: torch.Size, chance: float, generator: torch.Generator) -> torch.Tensor:
    """1 where pixels are kept: for a ``chance`` share of images one band across the image
    (a module gap: rows or columns) and a disc at the centre (a beam stop) are 0."""
    n, _, rows, cols = shape
    masked = torch.rand(n, generator=generator) < chance
    width = _uniform(n, *BAND_WIDTH_RANGE, generator)
    start = torch.rand(n, generator=generator) * (1 - width)
    across_rows = torch.rand(n, generator=generator) < 0.5
    y = (torch.arange(rows) + 0.5) / rows
    x = (torch.arange(cols) + 0.5) / cols
    position = torch.where(across_rows.view(-1, 1, 1), y.view(1, -1, 1), x.view(1, 1, -1))
    in_band = (position >= start.view(-1, 1, 1)) & (position < (start + width).view(-1, 1, 1))
    radius = _uniform(n, 0.0, MAX_BEAM_STOP, generator).view(-1, 1, 1)
    in_disc = torch.hypot(y.view(1, -1, 1) - 0.5, x.view(1, 1, -1) - 0.5) < radius
    hidden = (in_band | in_disc) & masked.view(-1, 1, 1)
    return (~hidden).float().unsqueeze(1)
