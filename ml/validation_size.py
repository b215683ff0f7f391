"""Whether a classifier's validation set is large enough to measure anything.

An accuracy measured on n images is uncertain by the binomial spread: its 95 % (Wilson)
interval at 80 % accuracy is ±20 points on 14 images and ±11 on 50. Runs whose accuracies
differ by less than that cannot be told apart, so below ``MIN_VALIDATION_IMAGES`` the page
warns, and says the interval of the run's own accuracy.
"""
from __future__ import annotations

import math
from typing import Sequence

MIN_VALIDATION_IMAGES = 50
Z_95 = 1.96
TYPICAL_ACCURACY = 0.8  # where the warning before a run reads the interval's width


def validation_images(class_counts: Sequence[int], val_share: float) -> int:
    """Images the training job sets aside for validation: per class its share, at least
    one, never all (``ml.classifier_train.stratified_split``)."""
    return sum(min(count - 1, max(1, round(count * val_share)))
               for count in class_counts if count > 0)


def accuracy_interval(accuracy: float, images: int) -> tuple[float, float]:
    """The 95 % Wilson interval of an accuracy measured on ``images`` images."""
    if images <= 0:
        return 0.0, 1.0
    centre = accuracy + Z_95 ** 2 / (2 * images)
    spread = Z_95 * math.sqrt(accuracy * (1 - accuracy) / images + Z_95 ** 2 / (4 * images ** 2))
    scale = 1 + Z_95 ** 2 / images
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def too_few_warning(images: int, accuracy: float | None = None) -> str | None:
    """Why ``images`` validation images measure too little, and what to do; None when they
    are enough."""
    if images >= MIN_VALIDATION_IMAGES:
        return None
    shown = TYPICAL_ACCURACY if accuracy is None else accuracy
    low, high = accuracy_interval(shown, images)
    measured = (f"an accuracy of {100 * shown:.0f} % measured on them lies anywhere "
                f"between {100 * low:.0f} and {100 * high:.0f} %" if accuracy is not None else
                f"an accuracy of {100 * shown:.0f} % measured on them could be anything "
                f"from {100 * low:.0f} to {100 * high:.0f} %")
    return (f"Only {images} validation images: {measured} (95 % interval), too wide to "
            f"compare runs or trust the number. At least {MIN_VALIDATION_IMAGES} are needed "
            "(±11 points at 80 %): label more images or raise the validation share.")
