"""Uncertainty scores and contradiction finding (ml.uncertainty) on hand-computed cases."""
import numpy as np
import pytest

from errors import DomainError
from ml.uncertainty import UNCERTAINTY, contradictions, most_uncertain, uncertainty

PROBABILITIES = np.array([[1.0, 0.0, 0.0],
                          [0.5, 0.3, 0.2],
                          [0.4, 0.4, 0.2],
                          [1 / 3, 1 / 3, 1 / 3]])


def test_scores_by_hand():
    assert np.allclose(uncertainty(PROBABILITIES, "least_confidence"), [0, 0.5, 0.6, 2 / 3])
    assert np.allclose(uncertainty(PROBABILITIES, "margin"), [0, 0.8, 1.0, 1.0])
    p = PROBABILITIES[1]
    assert np.allclose(uncertainty(PROBABILITIES, "entropy"),
                       [0, -(p * np.log(p)).sum() / np.log(3), 0.9602297, 1.0], atol=1e-6)


def test_every_measure_orders_sure_before_unsure():
    for method in UNCERTAINTY:
        scores = uncertainty(PROBABILITIES, method)
        assert scores[0] == pytest.approx(0) and scores[3] == pytest.approx(scores.max())


def test_most_uncertain_leaves_out_labeled_items_and_keeps_ties_in_item_order():
    item_ids = np.array([10, 11, 12, 13])
    ids, scores = most_uncertain(item_ids, PROBABILITIES, "margin", limit=3,
                                 exclude_item_ids=[11])
    assert ids.tolist() == [12, 13, 10]
    assert np.allclose(scores, [1.0, 1.0, 0.0])
    with pytest.raises(DomainError, match="not one of least_confidence, margin, entropy"):
        most_uncertain(item_ids, PROBABILITIES, "variance", limit=3)


def test_contradictions_need_confidence_and_a_known_column():
    item_ids = np.array([5, 6, 7, 8])
    probabilities = np.array([[0.95, 0.05], [0.10, 0.90], [0.97, 0.03], [0.60, 0.40]])
    columns = [21, 22]  # label ids of the columns
    # item 5 labeled 22 (model: 21 at .95), 6 agrees, 7 has a label the model lacks,
    # 8 disagrees at only .60, 9 was never scored
    found = contradictions(item_ids, probabilities, columns, [5, 6, 7, 8, 9],
                           [22, 22, 99, 22, 21], min_confidence=0.9)
    assert [(c.item_id, c.label_id, c.predicted_label_id) for c in found] == [(5, 22, 21)]
    assert found[0].confidence == pytest.approx(0.95)
    loose = contradictions(item_ids, probabilities, columns, [5, 8], [22, 22], 0.5)
    assert [c.item_id for c in loose] == [5, 8]  # most confident first
    assert contradictions(item_ids, probabilities, columns, [], [], 0.5) == []
