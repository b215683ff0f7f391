"""The warning about a validation set too small to measure an accuracy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.classifier_train import stratified_split
from ml.validation_size import (MIN_VALIDATION_IMAGES, accuracy_interval, too_few_warning,
                                validation_images)


@pytest.mark.parametrize("counts, share", [((16, 16), 0.2), ((1, 30, 7), 0.2),
                                           ((100, 3), 0.5), ((2, 2), 0.9)])
def test_the_count_is_what_the_training_job_sets_aside(counts, share):
    targets = np.repeat(np.arange(len(counts)), counts)
    _train, validation = stratified_split(targets, share, torch.Generator().manual_seed(0))
    assert validation_images(counts, share) == len(validation)


def test_the_interval_narrows_with_more_images():
    low, high = accuracy_interval(0.8, 14)
    assert (round(100 * low), round(100 * high)) == (54, 93)
    low, high = accuracy_interval(0.8, MIN_VALIDATION_IMAGES)
    assert high - low < 0.23  # about ±11 points
    assert accuracy_interval(1.0, 5)[1] == 1.0 and accuracy_interval(0.0, 5)[0] == 0.0


def test_the_warning_says_the_interval_and_the_threshold():
    warning = too_few_warning(14, 6 / 7)
    assert warning.startswith("Only 14 validation images")
    assert "between 60 and 96 %" in warning and f"At least {MIN_VALIDATION_IMAGES}" in warning
    assert too_few_warning(MIN_VALIDATION_IMAGES, 0.5) is None
