"""The separation check on constructed groups: clear groups separate, noise does not."""
import numpy as np

from ml.separation import MIN_LABELED, label_agreement
from tests.constructed import separated_groups


def test_separated_groups_agree_and_noise_is_near_chance():
    vectors, truth = separated_groups(4, 50, 8, scale=6.0, seed=1)
    item_ids = np.arange(len(truth)) + 100
    clear = label_agreement(item_ids, vectors, item_ids, truth)
    assert clear.agreement > 0.95 and clear.separates
    assert abs(clear.chance - 0.25) < 0.01
    noise = np.random.default_rng(2).normal(size=vectors.shape)
    muddled = label_agreement(item_ids, noise, item_ids, truth)
    assert muddled.agreement < 0.4 and muddled.separates is False


def test_too_few_labels_say_nothing():
    vectors, truth = separated_groups(2, 20, 4, scale=6.0, seed=1)
    item_ids = np.arange(len(truth))
    few = label_agreement(item_ids, vectors, item_ids[:MIN_LABELED - 1],
                          truth[:MIN_LABELED - 1])
    assert few.agreement is None and few.separates is None and few.labeled == MIN_LABELED - 1
