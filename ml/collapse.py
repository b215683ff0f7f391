"""Whether an autoencoder collapsed: reconstructions (nearly) all the same, or no closer to
the images than their mean image is.

Such a model can show a low, falling loss on images that differ little pixel by pixel, so the
loss curve does not reveal it, and its latent vectors group nothing. The test needs no labels
and does not depend on the data's scale: the share of the inputs' variation around their
mean image that the reconstructions explain, 1 - sum((x - r)^2) / sum((x - mean image)^2).
A model that returns the mean image for every input explains 0, one that copies its input 1,
and one whose outputs are worse than the mean image explains less than 0. Two figures are
stored beside it: how much the reconstructions vary over how much the inputs do (near 0:
all the same), and the latent vectors' spread around their mean relative to their length
(near 0: every vector points the same way, so all cosine distances are tiny).

torch-free: the job computes the sums (ml.autoencoder_train), the web layer reads the
verdict from the job result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

# A collapse is a model that does no better than returning the mean image (0) or worse.
# Measured: such models (untrained, one epoch, a decoder that outputs one image) give 0 or
# below, down to -17; healthy ones give 0.28-0.47 on the demo patterns after 10-30 epochs and
# 0.37-0.75 on digits after 3-8 epochs. A model between 0.05 and those is weak, not
# collapsed: whether its features still separate the classes is the label check's to say
# (ml.separation).
MIN_EXPLAINED = 0.05
# Below this ratio of the reconstructions' variation to the inputs' they are "all the same".
MIN_OUTPUT_SPREAD = 0.1
ADVICE = ("Train again with more epochs, a larger latent size, another learning rate, or "
          "log scale if it is off.")


def latent_spread(latents: np.ndarray) -> float:
    """Mean squared distance of the vectors from their mean over their mean squared length:
    0 when all are equal, 1 when they are centred on the origin."""
    vectors = np.asarray(latents, dtype=np.float64)
    power = float((vectors ** 2).sum(axis=1).mean()) if len(vectors) else 0.0
    if power == 0.0:
        return 0.0
    return float(((vectors - vectors.mean(axis=0)) ** 2).sum(axis=1).mean() / power)


@dataclass(frozen=True)
class CollapseCheck:
    explained: Optional[float]  # share of the inputs' variance explained; None: no variance
    output_spread: Optional[float]  # the reconstructions' variation over the inputs'
    latent_spread: float
    images: int  # how many images the figures were measured on

    @property
    def collapsed(self) -> bool:
        return self.explained is None or self.explained < MIN_EXPLAINED

    @property
    def reason(self) -> str:
        """Plain sentences: what was measured and, for a collapse, what to do."""
        if self.explained is None:
            return (f"The {self.images:,} images measured are all the same, so there is "
                    "nothing for the features to tell apart.")
        shown = f"{100 * max(self.explained, 0.0):.0f} %"
        if not self.collapsed:
            return f"The reconstructions explain {shown} of how the images differ."
        what = ("are nearly all the same (they explain" if self.output_spread < MIN_OUTPUT_SPREAD
                else "are far from the images (they explain only")
        return (f"This model's reconstructions {what} {shown} of how the images differ): "
                f"its features will not group your images. {ADVICE}")

    def to_dict(self) -> dict[str, Any]:
        return {"explained_variance": self.explained, "output_spread": self.output_spread,
                "latent_spread": self.latent_spread, "images": self.images,
                "collapsed": self.collapsed, "reason": self.reason}


def check_collapse(squared_error: float, input_variation: float, output_variation: float,
                   latents: np.ndarray) -> CollapseCheck:
    """The check from sums over items and pixels: squared reconstruction error, and the
    inputs' and the reconstructions' squared deviation from their mean image."""
    if input_variation <= 0:
        return CollapseCheck(None, None, latent_spread(latents), len(latents))
    return CollapseCheck(1.0 - squared_error / input_variation,
                         output_variation / input_variation, latent_spread(latents),
                         len(latents))


def collapse_warning(result: Optional[dict]) -> Optional[str]:
    """The plain-language warning a job result carries when its model collapsed, else None."""
    check = (result or {}).get("collapse") or {}
    return check.get("reason") if check.get("collapsed") else None
