"""The gallery orders the guided modes set: by similarity, by uncertainty, the items a
probability threshold would label, suspected mistakes first, or a validation checkpoint's
sample.

The label page keeps an order as a small spec in a store (``Label.GUIDED_ORDER``); each page
turn ranks again, so items labeled meanwhile drop out of an unlabeled-only order. Orders
are cut at ``MAX_ORDERED`` items, which the gallery pages through like any other list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from sqlalchemy.orm import Session

from db.guided import items_in_order
from db.labels import get_label, list_labels
from errors import DomainError
from ml import rankings
from ml.class_mapping import probability_columns
from ml.projection_results import load_projection, selection_items
from services import current_services

MAX_ORDERED = 5000


@dataclass
class GuidedOrder:
    item_ids: list[int]
    title: str
    notes: dict[int, str] = field(default_factory=dict)  # shown on the tile
    # A checkpoint hides the labels and shows the labels given again instead.
    answers: Optional[dict[int, int]] = None
    # A suggestion review: the label suggested for each item, which accepting a page gives.
    suggested: dict[int, int] = field(default_factory=dict)

    def page(self, session: Session, dataset_id: int, offset: int, limit: int) -> list[dict]:
        """Tiles' items of one page: id, uri, status, label_id and note."""
        rows = items_in_order(session, dataset_id, self.item_ids[offset:offset + limit])
        return [{"id": r.id, "uri": r.uri, "status": r.status, "note": self.notes.get(r.id),
                 "label_id": r.label_id if self.answers is None else self.answers.get(r.id),
                 "suggested": self.suggested.get(r.id)}
                for r in rows]


def _how_many(item_ids) -> str:
    """How many items an order holds, saying when it shows only the first ``MAX_ORDERED``."""
    shown = f"the first {MAX_ORDERED:,} of " if len(item_ids) > MAX_ORDERED else ""
    return f"{shown}{len(item_ids):,}"


MATCH_TITLES = {"any": "nearest to any", "mean": "nearest to their mean"}
# The similarity panel's match choice that leaves the rule to the labels so far; a spec
# holds it as match None (ml.rankings.match_choice).
CHOSEN_MATCH = "chosen"


def match_of(choice: Optional[str]) -> Optional[str]:
    """The match rule a similarity panel choice names (None: the one the labels favour)."""
    return None if choice in (None, CHOSEN_MATCH) else choice


def _similarity(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    ranking = rankings.similar(session, current_services().feature_indexes, dataset_id,
                               spec["job_id"], spec["query"], spec["unlabeled_only"],
                               MAX_ORDERED, match=spec["match"])
    notes = {int(i): f"d {d:.3f}" for i, d in zip(ranking.item_ids, ranking.distances)}
    how = MATCH_TITLES[ranking.match] + (", chosen from the labels" if spec["match"] is None
                                         else "")
    return GuidedOrder(ranking.item_ids.tolist(), f"by similarity to {len(spec['query'])} "
                       f"query item(s) ({how}), job {spec['job_id']}", notes)


def _uncertainty(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    job, item_ids, scores = rankings.uncertain(session, dataset_id, spec["job_id"],
                                               spec["method"], MAX_ORDERED)
    notes = {int(i): f"u {s:.3f}" for i, s in zip(item_ids, scores)}
    return GuidedOrder(item_ids.tolist(), f"unlabeled items by {spec['method'].replace('_', ' ')}"
                       f" of job {job.id}, most uncertain first", notes)


def _threshold(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    item_ids, scores = rankings.threshold_items(session, dataset_id, spec["job_id"],
                                                spec["label_id"], spec["threshold"],
                                                spec["overwrite"])
    label = get_label(session, dataset_id, spec["label_id"]).name
    notes = {int(i): f"p {s:.2f}" for i, s in zip(item_ids, scores)}
    return GuidedOrder(item_ids[:MAX_ORDERED].tolist(), f"{_how_many(item_ids)} items the "
                       f"threshold would label '{label}' (probability ≥ {spec['threshold']}), "
                       "least confident first: correct the odd ones, then apply", notes)


def _mistakes(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    found = rankings.suspected_mistakes(session, dataset_id, spec["job_id"],
                                        spec["min_confidence"])[:MAX_ORDERED]
    names = {label.id: label.name for label in list_labels(session, dataset_id, True)}
    # a top class this data set lacks (a model of another data set) goes by the model's name
    model_names = probability_columns(
        rankings.classifier_job(session, dataset_id, spec["job_id"])).names
    tops = [names.get(c.predicted_label_id) or model_names[c.predicted_column] for c in found]
    notes = {c.item_id: f"model: {top} {c.confidence:.2f}" for c, top in zip(found, tops)}
    return GuidedOrder([c.item_id for c in found], f"suspected mistakes: labels job "
                       f"{spec['job_id']} contradicts at {spec['min_confidence']:.2f} or more",
                       notes)


def suggestion_page(session: Session, dataset_id: int, spec: dict, limit: int,
                    offset: int = 0) -> rankings.SuggestionPage:
    """Suggestions of the class a suggestion order chose, or the next page to review."""
    return rankings.suggestion_page(session, current_services().feature_indexes, dataset_id,
                                    spec["job_id"], spec["label_id"], limit, offset)


def _suggestions(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    if spec.get("newest"):
        return _newest_suggestions(session, dataset_id, spec)
    if spec["label_id"] is None:
        try:
            model = rankings.suggestion_model(session, current_services().feature_indexes,
                                              dataset_id, spec["job_id"])
        except DomainError:  # no model before two classes carry labels: a cold start
            first = rankings.first_items(session, dataset_id, spec["job_id"],
                                         spec["page_size"])
            return GuidedOrder(first.tolist(), "label these first, by hand: typical items "
                               "spread over the whole data set; suggestions start once two "
                               "classes carry labels")
        item_ids, label_ids, confidences = model.review_order(spec["page_size"], MAX_ORDERED)
        title = "the surest suggestions of any class, grouped by class on each page"
    else:
        page = suggestion_page(session, dataset_id, spec, MAX_ORDERED)
        item_ids, label_ids, confidences = page.item_ids, page.label_ids, page.confidences
        title = f"suggested as '{get_label(session, dataset_id, spec['label_id']).name}'"
    return _with_suggestions(session, dataset_id, item_ids.tolist(), item_ids, label_ids,
                             confidences, f"{title}, by the labels so far on job "
                             f"{spec['job_id']}, most confident first")


def _with_suggestions(session: Session, dataset_id: int, order: list[int], item_ids,
                      label_ids, confidences, title: str) -> GuidedOrder:
    """The items of ``order``, those of ``item_ids`` showing their suggestion on the tile."""
    names = {label.id: label.name for label in list_labels(session, dataset_id, True)}
    notes = {int(item): f"→ {names.get(int(label), '?')} {confidence:.2f}"
             for item, label, confidence in zip(item_ids, label_ids, confidences)}
    return GuidedOrder(order, title, notes,
                       suggested=dict(zip(np.asarray(item_ids).tolist(),
                                          np.asarray(label_ids).tolist())))


def _newest_suggestions(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    """Unlabeled items newest first (a live data set's arrivals on top), each with its
    suggestion once the feature job holds its row (an item just arrived shows none yet)."""
    try:
        newest, page = rankings.newest_suggestion_page(
            session, current_services().feature_indexes, dataset_id, spec["job_id"],
            MAX_ORDERED)
    except DomainError as error:  # fewer than two classes carry labels
        newest = rankings.newest_unlabeled(session, dataset_id, MAX_ORDERED)
        return GuidedOrder(newest.tolist(), f"unlabeled items, newest first; {error}")
    suggested_ids, label_ids, confidences = page.item_ids, page.label_ids, page.confidences
    order, title = newest, "unlabeled items, newest first"
    if spec["label_id"] is not None:  # only those suggested as the chosen class
        chosen = label_ids == spec["label_id"]
        suggested_ids, label_ids, confidences = (suggested_ids[chosen], label_ids[chosen],
                                                 confidences[chosen])
        order = suggested_ids
        name = get_label(session, dataset_id, spec["label_id"]).name
        title = f"suggested as '{name}', newest first"
    return _with_suggestions(session, dataset_id, order.tolist(), suggested_ids, label_ids,
                             confidences, f"{title}, with the suggestions of the labels so far "
                             f"on job {spec['job_id']}")


def _typical(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    first = rankings.first_items(session, dataset_id, spec["job_id"], spec["page_size"])
    return GuidedOrder(first.tolist(), "typical items not labeled yet, spread over the whole "
                       f"data set (job {spec['job_id']}): label the ones of classes with few "
                       "labels by hand, so suggestions can propose those classes")


def _checkpoint(_session: Session, _dataset_id: int, spec: dict) -> GuidedOrder:
    answers = {int(item): label for item, label in spec["answers"].items()}
    return GuidedOrder(spec["items"], f"validation checkpoint: label these {len(spec['items'])}"
                       " items again (their labels are hidden); then score it",
                       answers=answers)


def _explorer(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    projection = load_projection(session, spec["job_id"], dataset_id)
    item_ids = selection_items(projection, spec["selection"], spec["cluster"]).tolist()
    part = "" if spec["cluster"] is None else f"cluster {spec['cluster']} of "
    return GuidedOrder(item_ids[:MAX_ORDERED], f"{_how_many(item_ids)} items selected in "
                       f"the explorer ({part}projection job {projection.job.id})")


ORDERS = {"similarity": _similarity, "uncertainty": _uncertainty, "mistakes": _mistakes,
          "checkpoint": _checkpoint, "explorer": _explorer, "suggestions": _suggestions,
          "typical": _typical,
          "threshold": _threshold}


def guided_order(session: Session, dataset_id: int, spec: dict) -> GuidedOrder:
    """The order ``spec`` asks for; a refused one is an empty order whose title says why."""
    try:
        return ORDERS[spec["kind"]](session, dataset_id, spec)
    except DomainError as error:
        return GuidedOrder([], f"{error}")
