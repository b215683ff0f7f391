"""Suggestions from the labels so far, on constructed groups whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from errors import DomainError
from ml.suggestions import MIN_SUPPORT, fit_suggestions, representative_items
from tests.constructed import separated_groups

GROUPS, PER_GROUP, DIMENSION = 4, 60, 12


@pytest.fixture(scope="module")
def groups():
    """Four well separated groups, item ids 1000.., labels 10 + group."""
    vectors, truth = separated_groups(GROUPS, PER_GROUP, DIMENSION, scale=5.0, seed=3)
    return 1000 + np.arange(len(truth)), vectors, 10 + truth


def test_suggestions_follow_the_groups_and_skip_labeled_items(groups):
    item_ids, vectors, truth = groups
    labeled = np.concatenate([np.flatnonzero(truth == label)[:3] for label in range(10, 14)])
    model = fit_suggestions(item_ids, vectors, item_ids[labeled], truth[labeled])
    assert set(model.item_ids.tolist()) == set(item_ids.tolist()) - set(item_ids[labeled])
    suggested, confidence = model.suggested()
    right = truth[model.item_ids - 1000]
    assert (suggested == right).mean() > 0.97
    assert sum(model.counts().values()) == len(model.item_ids)
    page_ids, page_confidence = model.page(12, limit=20)
    assert len(page_ids) == 20 and (truth[page_ids - 1000] == 12).all()
    assert (np.diff(page_confidence) <= 0).all()  # most confident first


def test_suggestions_of_given_items_skip_labeled_and_unknown_ones(groups):
    item_ids, vectors, truth = groups
    labeled = np.concatenate([np.flatnonzero(truth == label)[:3] for label in range(10, 14)])
    model = fit_suggestions(item_ids, vectors, item_ids[labeled], truth[labeled])
    suggested, confidence = model.suggested()
    asked = np.array([item_ids[-1], item_ids[labeled[0]], 5, model.item_ids[0]])
    found, label_ids, confidences = model.suggestions_of(asked)
    assert found.tolist() == [True, False, False, True]
    at = [model.item_ids.tolist().index(item) for item in asked[found]]
    assert label_ids.tolist() == suggested[at].tolist()
    assert confidences.tolist() == confidence[at].tolist()


def test_the_review_page_takes_the_surest_of_any_class_grouped_by_class(groups):
    item_ids, vectors, truth = groups
    labeled = np.concatenate([np.flatnonzero(truth == label)[:3] for label in range(10, 14)])
    model = fit_suggestions(item_ids, vectors, item_ids[labeled], truth[labeled])
    page_ids, page_labels, page_confidence = model.review_page(40)
    assert len(page_ids) == 40 and len(set(page_labels.tolist())) > 1
    _, confidence = model.suggested()
    surest = np.sort(confidence)[::-1][:40]
    assert np.allclose(np.sort(page_confidence)[::-1], surest)  # the 40 surest, any class
    changes = np.flatnonzero(np.diff(page_labels) != 0)
    assert len(changes) == len(set(page_labels.tolist())) - 1  # each class in one run
    for label in set(page_labels.tolist()):
        assert (np.diff(page_confidence[page_labels == label]) <= 0).all()
    next_ids, _, next_confidence = model.review_page(40, offset=40)
    assert not set(next_ids.tolist()) & set(page_ids.tolist())
    assert next_confidence.max() <= page_confidence.min()
    order_ids, _, _ = model.review_order(40, 80)
    assert order_ids[:40].tolist() == page_ids.tolist()
    assert order_ids[40:].tolist() == next_ids.tolist()


def test_a_mixed_page_expects_each_class_its_own_precision(groups):
    item_ids, vectors, truth = groups
    noisy = truth.copy()
    noisy[np.flatnonzero(truth == 10)[:30]] = 11
    model = fit_suggestions(item_ids, vectors, item_ids, noisy)
    clean, muddled = model.expected_precision(13, 0.5), model.expected_precision(11, 0.0)
    page = model.page_precision(np.array([13, 13, 13, 11]), np.array([0.9, 0.8, 0.5, 0.0]))
    assert page == pytest.approx((3 * clean + muddled) / 4)
    assert model.page_precision(np.array([13, 11]), np.array([1.01, 0.0])) is None
    assert model.page_precision(np.array([], np.int64), np.array([])) is None


def test_expected_precision_is_measured_on_held_out_labels(groups):
    item_ids, vectors, truth = groups
    noisy = truth.copy()
    flipped = np.flatnonzero(truth == 10)[:30]  # half of group 10 labeled as 11 by mistake
    noisy[flipped] = 11
    model = fit_suggestions(item_ids, vectors, item_ids, noisy)
    assert model.labels_used == len(item_ids)
    clean = model.expected_precision(13, 0.5)
    assert clean is not None and clean > 0.95
    muddled = model.expected_precision(11, 0.0)
    assert muddled is not None and muddled < clean - 0.08
    assert model.expected_precision(13, 1.01) is None  # no suggestion that confident


def test_one_class_is_refused_and_few_labels_give_no_estimate(groups):
    item_ids, vectors, truth = groups
    with pytest.raises(DomainError, match="at least two classes") as refused:
        fit_suggestions(item_ids, vectors, item_ids[:5], np.full(5, 10))
    assert refused.value.field == "labels"
    model = fit_suggestions(item_ids, vectors, item_ids[[0, 1]], np.array([10, 11]))
    assert model.expected_precision(10, 0.0) is None and MIN_SUPPORT > 2
    assert len(model.item_ids) == len(item_ids) - 2


def test_representative_items_meet_every_group(groups):
    item_ids, vectors, truth = groups
    chosen = representative_items(item_ids, vectors, 8)
    assert len(chosen) == len(set(chosen.tolist())) == 8
    assert set(truth[chosen - 1000].tolist()) == {10, 11, 12, 13}


def test_the_held_out_check_samples_many_labels(groups, monkeypatch):
    import ml.suggestions

    monkeypatch.setattr(ml.suggestions, "MAX_HELD_OUT", 50)
    item_ids, vectors, truth = groups
    model = fit_suggestions(item_ids, vectors, item_ids, truth)
    assert model.labels_used == len(item_ids) and len(model.held_out_truth) == 50
    assert model.held_out_accuracy > 0.95
