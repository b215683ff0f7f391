"""Guided labeling against the real event store (SQLite and PostgreSQL): similarity and
probability batches with their provenance, threshold precision, uncertainty, review and
efficiency figures, on feature jobs built by hand."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import select, update

from db import guided
from db.models import Tag, TaggingEvent
from db.session import transaction
from db.store import TagIn, apply_event
from errors import DomainError
from ml import rankings
from ml.similarity import IndexCache
from tests.databases import make_dataset
from tests.feature_jobs import make_feature_job, make_model_job


@pytest.fixture
def lab(session_factory, tmp_path):
    """Ten items and two classes; item k's vector points at angle 10·k degrees."""
    dataset_id, ids, labels = make_dataset(session_factory, 10, ("ring", "peak"))
    angles = np.radians(10 * np.arange(10))
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    job_id = make_feature_job(session_factory, dataset_id, tmp_path, ids, vectors)
    return session_factory, dataset_id, ids, labels, job_id


def label(session_factory, dataset_id, pairs, method="manual"):
    with transaction(session_factory) as session:
        return apply_event(session, dataset_id, "anna", method,
                           [TagIn(item, label_id) for item, label_id in pairs]).id


def tags_of(session, event_id):
    return sorted(session.execute(select(Tag.item_id, Tag.label_id, Tag.confidence)
                                  .where(Tag.event_id == event_id)).tuples())


def test_similar_items_nearest_first_unlabeled_only_by_default(lab):
    session_factory, dataset_id, ids, labels, job_id = lab
    label(session_factory, dataset_id, [(ids[1], labels["ring"])])
    cache = IndexCache()
    with session_factory() as session:
        ranking = rankings.similar(session, cache, dataset_id, job_id, [ids[0]], limit=4)
        everything = rankings.similar(session, cache, dataset_id, job_id, [ids[0]],
                                      unlabeled_only=False, limit=3)
        with pytest.raises(DomainError, match="not a finished inference job") as refused:
            rankings.similar(session, cache, dataset_id, job_id + 100, [ids[0]])
    assert ranking.item_ids.tolist() == [ids[0], ids[2], ids[3], ids[4]]
    # 16-bit codes in the index (ml.cosine_codes): cosines within 1e-5 of the angles'
    assert np.allclose(ranking.distances, 1 - np.cos(np.radians([0, 20, 30, 40])), atol=1e-5)
    assert everything.item_ids.tolist() == ids[:3]
    assert refused.value.field == "feature_job_id"
    # the index built once and used twice; the match rule chosen from the labels once (one
    # label: the fallback)
    assert len(cache) == 2 and ranking.match == everything.match == "mean"


def test_similarity_batch_previews_then_labels_in_one_event_with_provenance(lab):
    session_factory, dataset_id, ids, labels, job_id = lab
    ring, peak = labels["ring"], labels["peak"]
    label(session_factory, dataset_id, [(ids[1], ring), (ids[2], peak), (ids[3], ring)])
    cache = IndexCache()
    cutoff = float(1 - np.cos(np.radians(45)))
    with session_factory() as session:  # items within 45° of item 0: 0..4, three labeled
        preview = rankings.similarity_batch(session, cache, dataset_id, "anna", job_id,
                                            [ids[0]], ring, "cutoff", max_distance=cutoff,
                                            unlabeled_only=False)
    assert preview.event is None
    assert preview.plan.item_ids == ids[:5]
    assert preview.plan.to_label == [ids[0], ids[4]]  # labeled ones are kept
    assert (preview.plan.labeled, preview.plan.agreeing) == (3, 2)
    assert preview.plan.agreement == pytest.approx(2 / 3)

    with transaction(session_factory) as session:
        result = rankings.similarity_batch(session, cache, dataset_id, "anna", job_id,
                                           [ids[0], ids[1]], ring, "top_k", top_k=3,
                                           dry_run=False)
        event_id = result.event.id
    with session_factory() as session:
        event = session.get(TaggingEvent, event_id)
        assert event.method == "similarity" and event.tagger == "anna"
        assert event.params["feature_job_id"] == job_id
        assert event.params["query_item_ids"] == [ids[0], ids[1]]
        assert event.params["scope"] == "top_k" and event.params["top_k"] == 3
        assert event.params["cutoff"] is None
        # nearest unlabeled items to 5°: 0 (5°), 4 (35°), 5 (45°)
        assert tags_of(session, event_id) == [(i, ring, None) for i in (ids[0], ids[4], ids[5])]

    with transaction(session_factory) as session:  # overwrite: the page, labels changed too
        result = rankings.similarity_batch(session, cache, dataset_id, "anna", job_id,
                                           [ids[9]], peak, "page",
                                           page_item_ids=[ids[2], ids[3], ids[9]],
                                           overwrite=True, dry_run=False)
        assert tags_of(session, result.event.id) == [(ids[3], peak, None), (ids[9], peak, None)]
        with pytest.raises(DomainError, match="give top_k"):
            rankings.similarity_batch(session, cache, dataset_id, "anna", job_id, [ids[0]],
                                      ring, "top_k")


@pytest.fixture
def classified(lab, tmp_path):
    """Probabilities of 'ring' for the ten items, and hand labels on items 0..5."""
    session_factory, dataset_id, ids, labels, _ = lab
    ring, peak = labels["ring"], labels["peak"]
    p_ring = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.92, 0.75, 0.3, 0.1])
    job_id = make_feature_job(session_factory, dataset_id, tmp_path, ids,
                              np.eye(10)[:, :4], np.stack([p_ring, 1 - p_ring], axis=1),
                              [ring, peak])
    # by hand: 0 ring, 1 ring, 2 peak, 3 ring, 4 peak, 5 ring; 7 comes from another model
    label(session_factory, dataset_id, [(ids[0], ring), (ids[1], ring), (ids[2], peak),
                                        (ids[3], ring), (ids[4], peak), (ids[5], ring)])
    label(session_factory, dataset_id, [(ids[7], peak)], method="cluster")
    return session_factory, dataset_id, ids, labels, job_id


def test_threshold_preview_counts_and_refuses_a_precision_without_known_training(classified):
    session_factory, dataset_id, ids, labels, job_id = classified
    ring = labels["ring"]
    with session_factory() as session:
        result = rankings.probability_batch(session, dataset_id, "anna", job_id, ring, 0.8)
        loose = rankings.probability_batch(session, dataset_id, "anna", job_id, ring, 0.65)
        overwrite = rankings.probability_batch(session, dataset_id, "anna", job_id, ring, 0.8,
                                               overwrite_manual=True)
    # at 0.8: items 0, 1, 2, 3, 6 score high enough; only 6 is unlabeled; 2 is a 'peak'
    assert result.above == 5 and result.plan.to_label == [ids[6]]
    assert result.plan.disagreeing == 1 and result.event is None
    assert overwrite.plan.to_label == [ids[2], ids[6]]
    # a job that names no training: any hand label may be one it learnt from
    assert (result.check.held_out, result.check.precision) == (0, None)
    # at 0.65 item 7 (cluster label) counts as labeled
    assert loose.plan.to_label == [ids[6]] and loose.above == 7


@pytest.fixture
def trained(session_factory, tmp_path):
    """40 items; p(ring) falls from 0.99 (item 0) by 0.005 per item to item 29, then 0.1.
    The classifier trained on items 0..13 and 30, keeping 10..13 and 30 for validation;
    items 14..21 were labeled by hand after it, item 22 by a cluster batch."""
    dataset_id, ids, labels = make_dataset(session_factory, 40, ("ring", "peak"))
    ring, peak = labels["ring"], labels["peak"]
    p_ring = np.r_[0.99 - 0.005 * np.arange(30), np.full(10, 0.1)]
    job_id = make_feature_job(session_factory, dataset_id, tmp_path, ids, np.eye(40)[:, :4],
                              np.stack([p_ring, 1 - p_ring], axis=1), [ring, peak])
    trained_on = label(session_factory, dataset_id, [(ids[i], ring) for i in range(12)]
                       + [(ids[12], peak), (ids[13], peak), (ids[30], peak)])
    validation = [ids[i] for i in (10, 11, 12, 13, 30)]
    make_model_job(session_factory, job_id, tmp_path, trained_on, validation)
    label(session_factory, dataset_id, [(ids[i], ring) for i in range(14, 18)]
          + [(ids[i], peak) for i in range(18, 22)])
    label(session_factory, dataset_id, [(ids[22], peak)], method="cluster")
    return session_factory, dataset_id, ids, labels, job_id, trained_on


def test_threshold_precision_counts_only_hand_labels_the_classifier_did_not_train_on(
        trained, tmp_path):
    session_factory, dataset_id, ids, labels, job_id, trained_on = trained
    with session_factory() as session:
        result = rankings.probability_batch(session, dataset_id, "anna", job_id,
                                            labels["ring"], 0.8)
    # held out and at or above 0.8: validation items 10..13 and the later 14..21 (item 30
    # scores 0.1); rings among them: 10, 11, 14..17
    check = result.check
    assert (check.held_out, check.held_out_above, check.correct) == (13, 12, 6)
    # 50 %, where the training labels would have made it 16 of 22 (73 %)
    assert check.precision == pytest.approx(0.5) and check.recall == pytest.approx(1.0)
    # items 0..29 are above; 23..29 are unlabeled; 12, 13, 18..22 carry 'peak' and keep it
    assert result.above == 30 and result.plan.to_label == ids[23:30]
    assert result.plan.disagreeing == 7

    make_model_job(session_factory, job_id, tmp_path, trained_on)  # validation not recorded
    with session_factory() as session:
        later_only = rankings.probability_batch(session, dataset_id, "anna", job_id,
                                                labels["ring"], 0.8).check
    assert later_only.held_out_above == 8 < guided.MIN_HELD_OUT
    assert later_only.precision is None  # too few to tell, and never the training labels


def test_threshold_items_are_the_batch_least_confident_first(classified):
    session_factory, dataset_id, ids, labels, job_id = classified
    ring = labels["ring"]
    with session_factory() as session:
        kept, kept_scores = rankings.threshold_items(session, dataset_id, job_id, ring, 0.65)
        overwrite, scores = rankings.threshold_items(session, dataset_id, job_id, ring, 0.65,
                                                     overwrite=True)
        batch = rankings.probability_batch(session, dataset_id, "anna", job_id, ring, 0.65,
                                           overwrite_manual=True)
        with pytest.raises(DomainError, match="choose the label") as refused:
            rankings.threshold_items(session, dataset_id, job_id, None, 0.65)
    assert kept.tolist() == [ids[6]] and kept_scores == pytest.approx([0.92])
    # every item labeled otherwise too: 4 'peak' 0.7, 7 'peak' 0.75, 2 'peak' 0.85
    assert overwrite.tolist() == [ids[4], ids[7], ids[2], ids[6]]
    assert scores == pytest.approx([0.7, 0.75, 0.85, 0.92])
    assert sorted(overwrite.tolist()) == sorted(batch.plan.to_label)
    assert refused.value.field == "label_id"


def test_threshold_labels_carry_probabilities_and_keep_hand_labels_unless_asked(classified):
    session_factory, dataset_id, ids, labels, job_id = classified
    ring = labels["ring"]
    with transaction(session_factory) as session:
        result = rankings.probability_batch(session, dataset_id, "anna", job_id, ring, 0.8,
                                            dry_run=False)
        event_id = result.event.id
    with transaction(session_factory) as session:
        event = session.get(TaggingEvent, event_id)
        assert event.method == "probability"
        assert event.params["inference_job_id"] == job_id
        assert event.params["threshold"] == 0.8 and event.params["label_id"] == ring
        assert event.params["estimated_precision"] is None
        assert event.params["held_out_above"] == 0
        assert [(i, lab) for i, lab, _ in tags_of(session, event_id)] == [(ids[6], ring)]
        assert tags_of(session, event_id)[0][2] == pytest.approx(0.92)
        overwrite = rankings.probability_batch(session, dataset_id, "anna", job_id, ring, 0.8,
                                               overwrite_manual=True, dry_run=False)
        assert [t[:2] for t in tags_of(session, overwrite.event.id)] == [(ids[2], ring)]
        with pytest.raises(DomainError, match="between 0 and 1") as refused:
            rankings.probability_batch(session, dataset_id, "anna", job_id, ring, 1.5)
        assert refused.value.field == "threshold"


def test_uncertain_queue_and_suspected_mistakes(classified):
    session_factory, dataset_id, ids, labels, job_id = classified
    with session_factory() as session:
        job, queue, scores = rankings.uncertain(session, dataset_id, None, "margin", limit=3)
        mistakes = rankings.suspected_mistakes(session, dataset_id, job_id, 0.8)
        with pytest.raises(DomainError, match="no class probabilities") as refused:
            rankings.uncertain(session, dataset_id, job_id - 1)  # the autoencoder job
    assert job.id == job_id  # the newest classifier job when none is named
    # unlabeled: 6 (0.92), 8 (0.3), 9 (0.1); margin 1 - |2p - 1|
    assert queue.tolist() == [ids[8], ids[9], ids[6]]
    assert np.allclose(scores, [0.6, 0.2, 0.16])
    # item 2 is a 'peak' at p(ring) 0.85, item 7 a 'peak' at 0.75 (below 0.8)
    assert [(m.item_id, m.predicted_label_id) for m in mistakes] == [(ids[2], labels["ring"])]
    assert refused.value.field == "inference_job_id"


def test_validation_checkpoint_scores_against_the_current_labels(classified):
    session_factory, dataset_id, ids, labels, _ = classified
    with session_factory() as session:
        sample = guided.validation_sample(session, dataset_id, 4)
        everything = guided.validation_sample(session, dataset_id, 100)
        result = guided.score_checkpoint(session, dataset_id, {
            ids[0]: labels["ring"], ids[2]: labels["ring"], ids[4]: labels["peak"]})
    assert len(sample) == 4 and set(sample) <= set(everything)
    assert sorted(everything) == sorted(ids[:6] + [ids[7]])
    assert (result.answered, result.agreeing) == (3, 2)
    assert result.disagreements == [(ids[2], labels["peak"], labels["ring"])]


def test_efficiency_by_method_and_auto_labels_changed_by_hand(lab):
    session_factory, dataset_id, ids, labels, _ = lab
    ring, peak = labels["ring"], labels["peak"]
    start = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
    events = [label(session_factory, dataset_id, [(ids[0], ring)]),
              label(session_factory, dataset_id, [(ids[1], ring), (ids[2], ring)]),
              label(session_factory, dataset_id, [(i, peak) for i in ids[3:8]], "similarity"),
              label(session_factory, dataset_id, [(ids[3], ring), (ids[4], peak)]),
              label(session_factory, dataset_id, [(ids[8], ring)], "probability")]
    offsets = [0, 30, 50, 80, 1000]  # seconds after start
    with transaction(session_factory) as session:
        for event_id, seconds in zip(events, offsets):
            session.execute(update(TaggingEvent).where(TaggingEvent.id == event_id)
                            .values(created_at=start + timedelta(seconds=seconds)))
    with session_factory() as session:
        figures = guided.labeling_efficiency(session, dataset_id,
                                             since=start + timedelta(seconds=40))
    overall = {rate.method: rate for rate in figures.overall}
    # manual: 1 + 2 + 2 labels in 10 (first event) + 30 + 30 s
    assert overall["manual"].labels == 5 and overall["manual"].seconds == pytest.approx(70)
    assert overall["manual"].per_minute == pytest.approx(5 * 60 / 70)
    assert overall["similarity"].seconds == pytest.approx(20)
    assert overall["probability"].seconds == pytest.approx(guided.IDLE_SECONDS)  # a break
    session_rates = {rate.method: rate for rate in figures.session}
    assert set(session_rates) == {"similarity", "manual", "probability"}
    assert session_rates["similarity"].seconds == pytest.approx(10)  # since the start at 40 s
    assert figures.shares == {"manual": 5, "similarity": 3, "probability": 1}
    # of the five similarity labels, item 3 was changed by hand (item 4 confirmed)
    assert (figures.auto_labeled, figures.auto_changed_by_hand) == (6, 1)
