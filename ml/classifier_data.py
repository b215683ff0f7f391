"""The labels a classifier trains on: the current ones or those as of a tagging event,
with the classes that become the model's outputs. torch-free: the classifier page shows
the same summary and refusal that a classifier_train job gets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.labels import list_labels
from db.models import CurrentLabel, TaggingEvent
from db.store import labels_as_of
from errors import DomainError


@dataclass(frozen=True)
class TrainingSet:
    """The labels a classifier trains on, and the classes (its output columns)."""

    event_id: Optional[int]  # the last tagging event included; None before any event
    label_ids: list[int]
    label_names: list[str]
    labels: dict[int, int]  # item id -> label id

    def counts(self) -> list[int]:
        """Labeled items per class, in the order of ``label_ids``."""
        totals = dict.fromkeys(self.label_ids, 0)
        for label_id in self.labels.values():
            totals[label_id] += 1
        return list(totals.values())


def training_set(session: Session, dataset_id: int, event_id: int = 0) -> TrainingSet:
    """The current labels (``event_id`` 0) or those right after tagging event ``event_id``.

    The classes are the data set's label classes, plus deleted ones the labels still use.
    """
    if event_id:
        event = session.get(TaggingEvent, event_id)
        if event is None or event.dataset_id != dataset_id:
            raise DomainError(f"params.event_id: {event_id} is not a tagging event of data set "
                              f"{dataset_id}; use 0 for the current labels", "params.event_id")
        labels = labels_as_of(session, dataset_id, event_id)
    else:
        labels = dict(session.execute(select(CurrentLabel.item_id, CurrentLabel.label_id)
                                      .where(CurrentLabel.dataset_id == dataset_id)).all())
        event_id = session.scalar(select(func.max(TaggingEvent.id))
                                  .where(TaggingEvent.dataset_id == dataset_id))
    used = set(labels.values())
    classes = [label for label in list_labels(session, dataset_id, include_archived=True)
               if not label.archived or label.id in used]
    return TrainingSet(event_id, [label.id for label in classes],
                       [label.name for label in classes], labels)


def check_training_set(training: TrainingSet) -> None:
    """A DomainError saying what to label when the labels cannot train a classifier."""
    if len(training.label_ids) < 2:
        raise DomainError(f"training needs at least 2 label classes, and this data set has "
                          f"{len(training.label_ids)}; add classes and label images on the "
                          "Label page", "labels")
    empty = [name for name, count in zip(training.label_names, training.counts()) if not count]
    if empty:
        raise DomainError(f"class{'es' if len(empty) > 1 else ''} {', '.join(empty)} "
                          f"ha{'ve' if len(empty) > 1 else 's'} no labeled images; label some "
                          "or delete the class", "labels")
