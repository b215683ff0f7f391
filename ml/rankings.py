"""Guided labeling from a finished inference job: similarity rankings and batches,
probability-threshold batches, suggestions from the labels so far, the active-learning
queue and suspected mistakes.

The one place the REST API and the label page turn a request into ``ml.similarity`` /
``ml.uncertainty`` calls on the job's vectors (read through ``ml.features``) and into
``db.guided`` events. numpy-level only: the web process imports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from sqlalchemy.orm import Session

from db import guided
from db.labels import get_label
from db.models import Job, TaggingEvent
from db.store import get_dataset, items_page, last_event_id
from errors import DomainError
from ml.class_mapping import probability_columns
from ml.features import (feature_job, feature_sources, feature_version, load_probabilities,
                         load_vectors, rows_of)
from ml.separation import Agreement, label_agreement
from ml.similarity import (IndexCache, MatchChoice, Ranking, SimilarityIndex, build_index,
                           compare_match_rules, rank)
from ml.suggestions import SuggestionModel, fit_suggestions, representative_items
from ml.uncertainty import Contradiction, contradictions, most_uncertain

BATCH_SCOPES = ("page", "top_k", "cutoff")


def similarity_index(session: Session, cache: IndexCache, dataset_id: int,
                     job_id: int) -> SimilarityIndex:
    job = feature_job(session, job_id, dataset_id)
    return cache.get(feature_version(job), lambda: build_index(*load_vectors(job)))


def match_choice(session: Session, cache: IndexCache, dataset_id: int,
                 feature_job_id: int) -> MatchChoice:
    """The match rule the data set's current labels favour on a feature job's vectors
    (``ml.similarity.compare_match_rules``), worked out once per change of the labels,
    then kept in ``cache``."""
    index = similarity_index(session, cache, dataset_id, feature_job_id)
    job = feature_job(session, feature_job_id, dataset_id)
    key = ("match", *feature_version(job), last_event_id(session, dataset_id))
    return cache.get(key, lambda: compare_match_rules(
        index, *guided.current_label_arrays(session, dataset_id)))


def similar(session: Session, cache: IndexCache, dataset_id: int, feature_job_id: int,
            query_item_ids: Sequence[int], unlabeled_only: bool = True,
            limit: Optional[int] = None, max_distance: Optional[float] = None,
            match: Optional[str] = None) -> Ranking:
    """Items by cosine distance to the query items' vectors (the nearest of them, or their
    mean: ``match``; None: the rule the labels so far favour, ``match_choice``), nearest
    first; the ranking names the rule."""
    if not query_item_ids:
        raise DomainError("pick at least one query item", "query_item_ids")
    index = similarity_index(session, cache, dataset_id, feature_job_id)
    if match is None:
        match = match_choice(session, cache, dataset_id, feature_job_id).match
    exclude = guided.current_label_arrays(session, dataset_id)[0] if unlabeled_only else None
    return rank(index, query_item_ids, limit, max_distance, exclude, match)


@dataclass(frozen=True)
class BatchResult:
    plan: guided.BatchPlan
    event: Optional[TaggingEvent]  # None for a dry run, or when nothing was left to tag


def similarity_batch(session: Session, cache: IndexCache, dataset_id: int, tagger: str,
                     feature_job_id: int, query_item_ids: Sequence[int], label_id: int,
                     scope: str, top_k: Optional[int] = None,
                     max_distance: Optional[float] = None,
                     page_item_ids: Sequence[int] = (), unlabeled_only: bool = True,
                     overwrite: bool = False, dry_run: bool = True,
                     match: Optional[str] = None) -> BatchResult:
    """Label a similarity batch in one ``similarity`` event: the page shown (``page``),
    the ``top_k`` nearest, or all within ``max_distance`` (``cutoff``), by ``match`` (None:
    the rule the labels so far favour); the event records the rule used and whether it
    was chosen from the labels."""
    get_label(session, dataset_id, label_id)
    if scope not in BATCH_SCOPES:
        raise DomainError(f"scope '{scope}' is not one of {', '.join(BATCH_SCOPES)}", "scope")
    chosen_match = match is None
    if chosen_match:  # before the batch changes the labels it was chosen from
        match = match_choice(session, cache, dataset_id, feature_job_id).match
    if scope == "page":
        if not page_item_ids:
            raise DomainError("the page is empty: nothing to label", "page_item_ids")
        similarity_index(session, cache, dataset_id, feature_job_id)  # the job must exist
        chosen = list(page_item_ids)
    else:
        if scope == "top_k" and not top_k:
            raise DomainError("give top_k, the number of nearest items to label", "top_k")
        if scope == "cutoff" and max_distance is None:
            raise DomainError("give max_distance, the cosine distance cutoff", "max_distance")
        ranking = similar(session, cache, dataset_id, feature_job_id, query_item_ids,
                          unlabeled_only, top_k if scope == "top_k" else None,
                          max_distance if scope == "cutoff" else None, match)
        chosen = ranking.item_ids.tolist()
    plan = guided.plan_batch(session, dataset_id, chosen, label_id, overwrite)
    params = {"feature_job_id": feature_job_id, "query_item_ids": [int(i) for i in query_item_ids],
              "scope": scope, "match": match, "match_from_labels": chosen_match,
              "top_k": top_k if scope == "top_k" else None,
              "cutoff": max_distance if scope == "cutoff" else None,
              "unlabeled_only": unlabeled_only, "overwrite": overwrite,
              "chosen": len(plan.item_ids)}
    event = None if dry_run else guided.apply_batch(session, dataset_id, tagger, "similarity",
                                                    plan, params)
    return BatchResult(plan, event)


def suggestion_model(session: Session, cache: IndexCache, dataset_id: int,
                     feature_job_id: int) -> SuggestionModel:
    """The suggestion model of the current labels on a feature job's vectors (fitted once
    per change of the labels, then kept in ``cache``)."""
    job = feature_job(session, feature_job_id, dataset_id)
    key = ("suggestions", *feature_version(job), last_event_id(session, dataset_id))

    def fit() -> SuggestionModel:
        labeled, labels = guided.current_label_arrays(session, dataset_id)
        return fit_suggestions(*load_vectors(job), labeled, labels)

    return cache.get(key, fit)


@dataclass(frozen=True)
class SuggestionPage:
    model: SuggestionModel
    item_ids: np.ndarray
    label_ids: np.ndarray  # the suggestion for each item
    confidences: np.ndarray
    # Held-out precision of suggestions as confident as the page's least confident one of
    # each class, weighted by the classes' items; None when it cannot be estimated.
    expected_precision: Optional[float]


def suggestion_page(session: Session, cache: IndexCache, dataset_id: int, feature_job_id: int,
                    label_id: Optional[int], limit: int, offset: int = 0) -> SuggestionPage:
    """Unlabeled items suggested as ``label_id``, most confident first; with None, the
    next page to review (``SuggestionModel.review_page``: the surest of any class)."""
    model = suggestion_model(session, cache, dataset_id, feature_job_id)
    if label_id is None:
        item_ids, label_ids, confidences = model.review_page(limit, offset)
    else:
        get_label(session, dataset_id, label_id)
        item_ids, confidences = model.page(label_id, limit, offset)
        label_ids = np.full(len(item_ids), label_id)
    return SuggestionPage(model, item_ids, label_ids, confidences,
                          model.page_precision(label_ids, confidences))


def newest_unlabeled(session: Session, dataset_id: int, limit: int,
                     offset: int = 0) -> np.ndarray:
    """Ids of unlabeled items, newest first: a live data set's arrivals on top."""
    return np.array([row.id for row in items_page(session, dataset_id, offset, limit,
                                                  unlabeled=True, order="newest")], np.int64)


def newest_suggestion_page(session: Session, cache: IndexCache, dataset_id: int,
                           feature_job_id: int, limit: int, offset: int = 0,
                           label_id: Optional[int] = None
                           ) -> tuple[np.ndarray, SuggestionPage]:
    """(unlabeled items newest first, the suggestions of those that have one): an item
    whose feature row the job does not hold yet has none. Every class is listed: a
    ``label_id`` is refused."""
    if label_id is not None:
        raise DomainError("newest first lists the unlabeled items of every class: leave "
                          "label_id out, or ask for the most confident first", "label_id")
    newest = newest_unlabeled(session, dataset_id, limit, offset)
    model = suggestion_model(session, cache, dataset_id, feature_job_id)
    found, label_ids, confidences = model.suggestions_of(newest)
    return newest, SuggestionPage(model, newest[found], label_ids, confidences,
                                  model.page_precision(label_ids, confidences))


@dataclass(frozen=True)
class SuggestionBatch:
    result: BatchResult
    expected_precision: Optional[float]
    model: SuggestionModel


def suggestion_batch(session: Session, cache: IndexCache, dataset_id: int, tagger: str,
                     feature_job_id: int, label_of: dict[int, int], overwrite: bool = False,
                     dry_run: bool = True) -> SuggestionBatch:
    """Accept a page of suggestions: each item of ``label_of`` its label there, in one
    ``suggestion`` event, each tag with the model's probability of its label as confidence."""
    if not label_of:
        raise DomainError("the page is empty: nothing to label", "item_ids")
    for label_id in set(label_of.values()):
        get_label(session, dataset_id, label_id)
    model = suggestion_model(session, cache, dataset_id, feature_job_id)
    missing = sorted(set(label_of.values()) - set(model.label_ids.tolist()))
    if missing:
        raise DomainError(f"no item carries label {missing[0]} yet, so nothing is suggested "
                          "as it; label a few of its items by hand first", "label_id")
    column_of = {int(label): column for column, label in enumerate(model.label_ids.tolist())}
    row_of = {int(item): row for row, item in enumerate(model.item_ids.tolist())}
    confidences = {item: float(model.probabilities[row_of[item], column_of[label]])
                   for item, label in label_of.items() if item in row_of}
    plan = guided.plan_labels(session, dataset_id, label_of, overwrite)
    scored = [item for item in label_of if item in confidences]
    precision = model.page_precision(np.array([label_of[i] for i in scored], np.int64),
                                     np.array([confidences[i] for i in scored]))
    labels = sorted(set(label_of.values()))
    params = {"feature_job_id": feature_job_id, "label_ids": labels, "overwrite": overwrite,
              "chosen": len(plan.item_ids), "labels_used": model.labels_used,
              "held_out_accuracy": model.held_out_accuracy, "expected_precision": precision}
    if len(labels) == 1:
        params["label_id"] = labels[0]
    event = None if dry_run else guided.apply_batch(session, dataset_id, tagger, "suggestion",
                                                    plan, params, confidences)
    return SuggestionBatch(BatchResult(plan, event), precision, model)


def first_items(session: Session, dataset_id: int, feature_job_id: int, count: int,
                unlabeled_only: bool = True) -> np.ndarray:
    """Items to label first: typical and spread over the feature space (cluster centres)."""
    item_ids, vectors = load_vectors(feature_job(session, feature_job_id, dataset_id))
    if unlabeled_only:
        keep = ~np.isin(item_ids, guided.current_label_arrays(session, dataset_id)[0])
        item_ids, vectors = item_ids[keep], np.asarray(vectors)[keep]
    return representative_items(item_ids, vectors, count)


def feature_separation(session: Session, dataset_id: int, feature_job_id: int) -> Agreement:
    """How well a feature job's vectors separate the classes labeled so far."""
    job = feature_job(session, feature_job_id, dataset_id)
    labeled, labels = guided.current_label_arrays(session, dataset_id)
    return label_agreement(*load_vectors(job), labeled, labels)


def classifier_job(session: Session, dataset_id: int, job_id: Optional[int],
                   field: str = "inference_job_id") -> Job:
    """The classifier inference job ``job_id``, or the data set's newest one when None."""
    if job_id is None:
        sources = feature_sources(session, dataset_id, with_probabilities=True)
        if not sources:
            raise DomainError("this data set has no finished classifier inference job; run "
                              "classifier_infer first", field)
        job_id = sources[0].job_id
    job = feature_job(session, job_id, dataset_id, field)
    load_probabilities(job, field)  # refuses a job without probabilities
    return job


@dataclass(frozen=True)
class Training:
    """What the classifier of an inference job learnt from: the last tagging event of its
    labels (None when unknown) and the labeled items it kept aside for validation."""

    event_id: Optional[int]
    validation_item_ids: np.ndarray


def _classifier_training(session: Session, inference_job: Job) -> Training:
    """What the classifier behind ``inference_job`` trained on, as far as its job recorded."""
    model_job_id = (inference_job.params or {}).get("model_job_id")
    model_job = session.get(Job, model_job_id) if model_job_id is not None else None
    if model_job is not None and model_job.dataset_id != inference_job.dataset_id:
        # a model of another data set learnt none of this one's labels: all are held out
        return Training(0, np.empty(0, np.int64))
    result = (model_job.result or {}) if model_job else {}
    validation = result.get("validation_items")  # recorded by newer classifier_train jobs
    item_ids = (np.load(Path(model_job.artifact_dir) / validation) if validation
                else np.empty(0, np.int64))
    return Training(result.get("trained_on_event_id"), item_ids.astype(np.int64, copy=False))


def _label_column(job: Job, label_id: int, field: str) -> tuple[np.ndarray, np.ndarray]:
    item_ids, probabilities, column_label_ids = load_probabilities(job)
    if label_id not in column_label_ids:  # a column without a class (None) never matches
        raise DomainError(f"label {label_id} is not one of the classes job {job.id} was "
                          "trained on; train a classifier that knows it", field)
    return item_ids, probabilities[:, column_label_ids.index(label_id)]


def _label_of_class(job: Job, class_name: str, label_id: Optional[int]) -> int:
    """The data set's class that the model's class ``class_name`` maps to (refused when the
    data set lacks it); ``label_id``, when given too, must be that class."""
    mapped = probability_columns(job).label_of_name(class_name, "class_name")
    if label_id is not None and label_id != mapped:
        raise DomainError(f"class '{class_name}' of job {job.id} is label {mapped}, not "
                          f"label {label_id}; give one of label_id and class_name",
                          "class_name")
    return mapped


@dataclass(frozen=True)
class ThresholdPlan:
    job: Job
    label_id: int  # the label to give
    item_ids: np.ndarray  # every item the job scored
    scores: np.ndarray  # each one's probability of the label
    plan: guided.BatchPlan  # its items: those at or above the threshold

    def to_label(self) -> tuple[np.ndarray, np.ndarray]:
        """(item ids, probabilities of the label) of the items the batch would tag."""
        item_ids = np.asarray(self.plan.to_label, np.int64)
        return item_ids, self.scores[rows_of(self.item_ids, item_ids)[0]]


def _threshold_plan(session: Session, dataset_id: int, inference_job_id: Optional[int],
                    label_id: Optional[int], threshold: float,
                    overwrite: bool, class_name: Optional[str] = None) -> ThresholdPlan:
    get_dataset(session, dataset_id)
    if label_id is None and class_name is None:
        raise DomainError("choose the label to give", "label_id")
    if label_id is not None:
        get_label(session, dataset_id, label_id)
    if not 0.0 <= threshold <= 1.0:
        raise DomainError("threshold must be between 0 and 1", "threshold")
    job = classifier_job(session, dataset_id, inference_job_id)
    if class_name is not None:
        label_id = _label_of_class(job, class_name, label_id)
    item_ids, scores = _label_column(job, label_id, "label_id")
    plan = guided.plan_batch(session, dataset_id, item_ids[scores >= threshold].tolist(),
                             label_id, overwrite)
    return ThresholdPlan(job, label_id, item_ids, scores, plan)


def threshold_items(session: Session, dataset_id: int, inference_job_id: Optional[int],
                    label_id: Optional[int], threshold: float, overwrite: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, probabilities) of exactly the items a probability batch would tag, least
    confident first: the doubtful ones are the ones to look at before applying it."""
    item_ids, scores = _threshold_plan(session, dataset_id, inference_job_id, label_id,
                                       threshold, overwrite).to_label()
    order = np.argsort(scores, kind="stable")
    return item_ids[order], scores[order]


@dataclass(frozen=True)
class ThresholdResult:
    plan: guided.BatchPlan
    above: int  # items the classifier scores at or above the threshold
    check: guided.ThresholdCheck  # on held-out hand labels only
    event: Optional[TaggingEvent]


def probability_batch(session: Session, dataset_id: int, tagger: str,
                      inference_job_id: Optional[int], label_id: Optional[int],
                      threshold: float, overwrite_manual: bool = False,
                      dry_run: bool = True, class_name: Optional[str] = None
                      ) -> ThresholdResult:
    """Give ``label_id`` to the items whose probability of it is at least ``threshold``, in
    one ``probability`` event with each probability as the tag's confidence. Labeled items
    keep their label unless ``overwrite_manual``. The check states the precision the
    threshold had on hand labels the classifier did not train on. Instead of ``label_id``,
    ``class_name`` may name the model's class: the data set's class it maps to is given."""
    chosen = _threshold_plan(session, dataset_id, inference_job_id, label_id, threshold,
                             overwrite_manual, class_name)
    label_id = chosen.label_id
    training = _classifier_training(session, chosen.job)
    check = guided.check_threshold(session, dataset_id, chosen.item_ids, chosen.scores,
                                   label_id, threshold, training.event_id,
                                   training.validation_item_ids)
    event = None
    if not dry_run:
        params: dict[str, Any] = {
            "inference_job_id": chosen.job.id, "label_id": label_id, "threshold": threshold,
            "overwrite_manual": overwrite_manual, "estimated_precision": check.precision,
            "held_out_above": check.held_out_above}
        item_ids, scores = chosen.to_label()
        confidences = dict(zip(item_ids.tolist(), np.clip(scores, 0.0, 1.0).astype(float).tolist()))
        event = guided.apply_batch(session, dataset_id, tagger, "probability", chosen.plan,
                                   params, confidences)
    return ThresholdResult(chosen.plan, len(chosen.plan.item_ids), check, event)


def uncertain(session: Session, dataset_id: int, inference_job_id: Optional[int] = None,
              method: str = "least_confidence", limit: int = 100
              ) -> tuple[Job, np.ndarray, np.ndarray]:
    """(job, item ids, scores) of the unlabeled items the classifier is least sure of."""
    job = classifier_job(session, dataset_id, inference_job_id)
    item_ids, probabilities, _ = load_probabilities(job)
    labeled = guided.current_label_arrays(session, dataset_id)[0]
    ids, scores = most_uncertain(item_ids, probabilities, method, limit, labeled)
    return job, ids, scores


def suspected_mistakes(session: Session, dataset_id: int, inference_job_id: Optional[int],
                       min_confidence: float = 0.9) -> list[Contradiction]:
    """Labeled items whose label the classifier contradicts with high confidence."""
    job = classifier_job(session, dataset_id, inference_job_id)
    item_ids, probabilities, column_label_ids = load_probabilities(job)
    labeled, labels = guided.current_label_arrays(session, dataset_id)
    return contradictions(item_ids, probabilities, column_label_ids, labeled, labels,
                          min_confidence)
