"""Model-guided labeling in the event log: batch events with their provenance, the precision
a probability threshold would have had, validation checkpoints, and labeling efficiency.

Every batch is one tagging event (``db.store.apply_event``) whose ``params`` say how its
items were chosen; labels already on items are kept unless the caller asks to overwrite.
Like ``db.store``, every function takes an open session and the caller owns the transaction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional, Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from db.models import CurrentLabel, Item, Tag, TaggingEvent, as_utc
from db.store import AUTO_METHODS, HAND_METHODS, ItemRow, TagIn, apply_event, get_dataset
from errors import DomainError

# A pause longer than this between two events of one tagger is a break, not labeling time.
IDLE_SECONDS = 120.0
# The effort counted for a tagger's first event, which has no earlier event to time it by.
FIRST_EVENT_SECONDS = 10.0


def items_in_order(session: Session, dataset_id: int, item_ids: Sequence[int]) -> list[ItemRow]:
    """The items ``item_ids`` of the data set with their labels, in the order given."""
    ids = [int(i) for i in item_ids]
    rows = session.execute(
        select(Item.id, Item.uri, Item.path, Item.frame, Item.status, CurrentLabel.label_id)
        .outerjoin(CurrentLabel, CurrentLabel.item_id == Item.id)
        .where(Item.dataset_id == dataset_id, Item.id.in_(ids)))
    by_id = {row[0]: ItemRow(*row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def current_label_arrays(session: Session, dataset_id: int,
                         methods: Optional[Sequence[str]] = None,
                         after_event_id: Optional[int] = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, label ids) of the labeled items, optionally only those whose label came
    from an event of one of ``methods``, or from an event after ``after_event_id``."""
    query = select(CurrentLabel.item_id, CurrentLabel.label_id).where(
        CurrentLabel.dataset_id == dataset_id)
    if after_event_id is not None:
        query = query.where(CurrentLabel.event_id > after_event_id)
    if methods is not None:
        query = query.join(TaggingEvent, TaggingEvent.id == CurrentLabel.event_id).where(
            TaggingEvent.method.in_(methods))
    # Core rows and fromiter: the ORM result and np.array(rows) cost 20 times more here
    rows = session.connection().execute(query).all()
    return (np.fromiter((row[0] for row in rows), np.int64, len(rows)),
            np.fromiter((row[1] for row in rows), np.int64, len(rows)))


@dataclass(frozen=True)
class BatchPlan:
    """What a batch would do: the label it gives each chosen item (None clears), the items
    it would tag, and how the labels already on the chosen items compare with the batch's."""

    label_of: dict[int, Optional[int]]
    to_label: list[int]
    labeled: int  # chosen items that carry a label now
    agreeing: int  # of those, how many carry the label the batch gives them

    @property
    def item_ids(self) -> list[int]:
        return list(self.label_of)

    @property
    def agreement(self) -> Optional[float]:
        return self.agreeing / self.labeled if self.labeled else None

    @property
    def disagreeing(self) -> int:
        """Chosen items labeled otherwise: kept, or relabeled when overwriting."""
        return self.labeled - self.agreeing


def plan_batch(session: Session, dataset_id: int, item_ids: Sequence[int], label_id: int,
               overwrite: bool = False) -> BatchPlan:
    """The batch that gives ``label_id`` to ``item_ids``: unlabeled items only, unless
    ``overwrite`` (then every chosen item whose label differs)."""
    return plan_labels(session, dataset_id, {int(i): label_id for i in item_ids}, overwrite)


def plan_labels(session: Session, dataset_id: int, label_of: dict[int, int],
                overwrite: bool = False) -> BatchPlan:
    """The batch that gives each item of ``label_of`` its label there (a page of
    suggestions of several classes): unlabeled items only, unless ``overwrite``."""
    ids = list(label_of)
    current: dict[int, int] = {}
    for start in range(0, len(ids), 10_000):  # bounded IN lists
        current.update(session.execute(
            select(CurrentLabel.item_id, CurrentLabel.label_id).where(
                CurrentLabel.dataset_id == dataset_id,
                CurrentLabel.item_id.in_(ids[start:start + 10_000]))).all())
    agreeing = sum(1 for item, label in current.items() if label == label_of[item])
    to_label = [i for i in ids
                if (current.get(i) != label_of[i] if overwrite else i not in current)]
    return BatchPlan(label_of, to_label, len(current), agreeing)


def apply_batch(session: Session, dataset_id: int, tagger: str, method: str, plan: BatchPlan,
                params: dict[str, Any],
                confidences: Optional[dict[int, float]] = None) -> Optional[TaggingEvent]:
    """One event tagging ``plan.to_label`` with their labels; None when nothing is left."""
    if not plan.to_label:
        return None
    confidences = confidences or {}
    tags = [TagIn(i, plan.label_of[i], confidences.get(i)) for i in plan.to_label]
    return apply_event(session, dataset_id, tagger, method, tags, params)


# Held-out hand labels at or above a threshold that its precision estimate needs (the
# support ml.suggestions asks of its estimates too); with fewer there is no estimate.
MIN_HELD_OUT = 10


@dataclass(frozen=True)
class ThresholdCheck:
    """How a probability threshold did on the held-out hand labels: those the classifier
    did not train on. Its training labels never count: a model is right about them far
    more often than about new images, so they flatter any estimate."""

    held_out: int  # held-out hand-labeled items the classifier scored
    held_out_above: int  # of those, at or above the threshold
    correct: int  # of those, labeled with the threshold's label
    with_label: int  # held-out items that carry the label

    @property
    def precision(self) -> Optional[float]:
        """None below ``MIN_HELD_OUT`` held-out labels at or above the threshold."""
        enough = self.held_out_above >= MIN_HELD_OUT
        return self.correct / self.held_out_above if enough else None

    @property
    def recall(self) -> Optional[float]:
        return self.correct / self.with_label if self.with_label else None


def held_out_hand_labels(session: Session, dataset_id: int,
                         trained_on_event_id: Optional[int],
                         validation_item_ids: Sequence[int] = ()
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(item ids, label ids) of the hand labels (``HAND_METHODS``) a classifier did not
    train on: those made after ``trained_on_event_id``, the last event it learnt from, and
    those of its validation items. None when what it learnt from is unknown."""
    if trained_on_event_id is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    later = current_label_arrays(session, dataset_id, HAND_METHODS, trained_on_event_id)[0]
    hand_ids, hand_labels = current_label_arrays(session, dataset_id, HAND_METHODS)
    kept = np.isin(hand_ids, later) | np.isin(hand_ids, np.asarray(validation_item_ids,
                                                                   np.int64))
    return hand_ids[kept], hand_labels[kept]


def check_threshold(session: Session, dataset_id: int, item_ids: np.ndarray,
                    scores: np.ndarray, label_id: int, threshold: float,
                    trained_on_event_id: Optional[int],
                    validation_item_ids: Sequence[int] = ()) -> ThresholdCheck:
    """The precision (and recall) that ``scores >= threshold`` would have had on the held-out
    hand labels (``held_out_hand_labels``)."""
    hand_ids, hand_labels = held_out_hand_labels(session, dataset_id, trained_on_event_id,
                                                 validation_item_ids)
    scored = np.isin(hand_ids, item_ids)
    hand_ids, hand_labels = hand_ids[scored], hand_labels[scored]
    order = np.argsort(item_ids)
    rows = order[np.searchsorted(item_ids, hand_ids, sorter=order)]
    above = scores[rows] >= threshold
    correct = hand_labels == label_id
    return ThresholdCheck(len(hand_ids), int(above.sum()), int((above & correct).sum()),
                          int(correct.sum()))


def validation_sample(session: Session, dataset_id: int, size: int) -> list[int]:
    """A random sample of labeled items, to label again without seeing their labels."""
    if size < 1:
        raise DomainError("a validation checkpoint needs at least one item", "size")
    return list(session.scalars(select(CurrentLabel.item_id)
                                .where(CurrentLabel.dataset_id == dataset_id)
                                .order_by(func.random()).limit(size)))


@dataclass(frozen=True)
class CheckpointResult:
    answered: int
    agreeing: int
    # (item id, label it carries, label given again) for every disagreement
    disagreements: list[tuple[int, Optional[int], int]] = field(default_factory=list)

    @property
    def agreement(self) -> Optional[float]:
        return self.agreeing / self.answered if self.answered else None


def score_checkpoint(session: Session, dataset_id: int,
                     answers: dict[int, int]) -> CheckpointResult:
    """Compare the labels given again (item → label) with the labels the items carry now."""
    current = dict(session.execute(
        select(CurrentLabel.item_id, CurrentLabel.label_id).where(
            CurrentLabel.dataset_id == dataset_id,
            CurrentLabel.item_id.in_([int(i) for i in answers]))).all())
    disagreements = [(item, current.get(item), label) for item, label in answers.items()
                     if current.get(item) != label]
    return CheckpointResult(len(answers), len(answers) - len(disagreements), disagreements)


# --- efficiency ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MethodRate:
    method: str
    labels: int  # tags written by the method's events
    seconds: float  # labeling time spent on them (see ``labeling_efficiency``)

    @property
    def per_minute(self) -> float:
        return 60.0 * self.labels / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Efficiency:
    session: list[MethodRate]  # events since the start of this session
    overall: list[MethodRate]
    shares: dict[str, int]  # current labels by the method of the event that gave them
    auto_labeled: int  # items ever labeled by a similarity, probability or cluster event
    auto_changed_by_hand: int  # of those, items a later manual event gave another label


def _rates(events: list[tuple[str, int, float]]) -> list[MethodRate]:
    totals: dict[str, list[float]] = {}
    for method, n_tags, seconds in events:
        entry = totals.setdefault(method, [0, 0.0])
        entry[0] += n_tags
        entry[1] += seconds
    return [MethodRate(method, int(n), s) for method, (n, s) in sorted(totals.items())]


def _auto_changed_by_hand(session: Session, dataset_id: int) -> tuple[int, int]:
    auto_event = aliased(TaggingEvent)
    hand_event = aliased(TaggingEvent)
    later = aliased(Tag)
    auto_tags = (select(Tag.item_id, Tag.event_id, Tag.label_id)
                 .join(auto_event, auto_event.id == Tag.event_id)
                 .where(Tag.dataset_id == dataset_id, auto_event.method.in_(AUTO_METHODS),
                        Tag.label_id.is_not(None)).subquery())
    changed = (select(later.id).join(hand_event, hand_event.id == later.event_id)
               .where(later.item_id == auto_tags.c.item_id,
                      later.event_id > auto_tags.c.event_id, hand_event.method == "manual",
                      later.label_id.is_distinct_from(auto_tags.c.label_id)).exists())
    auto_labeled = session.scalar(select(func.count(func.distinct(auto_tags.c.item_id))))
    corrected = session.scalar(select(func.count(func.distinct(auto_tags.c.item_id)))
                               .where(changed))
    return auto_labeled or 0, corrected or 0


def labeling_efficiency(session: Session, dataset_id: int,
                        since: Optional[datetime] = None) -> Efficiency:
    """Labels per minute by method, overall and since ``since`` (this session).

    The time an event took is the pause since the same tagger's previous event (or since
    ``since``), capped at ``IDLE_SECONDS``, so breaks do not count as labeling time.
    """
    get_dataset(session, dataset_id)
    rows = session.execute(
        select(TaggingEvent.tagger, TaggingEvent.method, TaggingEvent.n_tags,
               TaggingEvent.created_at)
        .where(TaggingEvent.dataset_id == dataset_id).order_by(TaggingEvent.id)).all()
    since = as_utc(since) if since else None
    last_seen: dict[str, datetime] = {}
    overall, recent = [], []
    def effort(created: datetime, previous: Optional[datetime]) -> float:
        pause = (created - previous).total_seconds() if previous else FIRST_EVENT_SECONDS
        return min(max(pause, 0.0), IDLE_SECONDS)

    for tagger, method, n_tags, created in rows:
        created = as_utc(created)
        previous = last_seen.get(tagger)
        overall.append((method, n_tags, effort(created, previous)))
        if since is not None and created >= since:  # the session's clock starts at since
            recent.append((method, n_tags, effort(created, max(previous or since, since))))
        last_seen[tagger] = created
    shares = dict(session.execute(
        select(TaggingEvent.method, func.count())
        .join(CurrentLabel, CurrentLabel.event_id == TaggingEvent.id)
        .where(CurrentLabel.dataset_id == dataset_id).group_by(TaggingEvent.method)).all())
    auto_labeled, corrected = _auto_changed_by_hand(session, dataset_id)
    return Efficiency(_rates(recent), _rates(overall), shares, auto_labeled, corrected)
