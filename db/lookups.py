"""Small read-only look-ups the pages show: a row by id (None when it is gone, never an
error), the names of the data sets, whether items carry a label, the training run behind
a job. Everything that can refuse a request lives in ``db.store``, ``db.labels`` and
``db.jobs``; these only read.
"""
from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import CurrentLabel, Dataset, Item, Job, LabelClass


def dataset_names(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every data set, oldest first."""
    return [tuple(row) for row in
            session.execute(select(Dataset.id, Dataset.name).order_by(Dataset.id))]


def find_job(session: Session, job_id: Optional[int]) -> Optional[Job]:
    """The job ``job_id``, or None when there is no id or no such job."""
    return session.get(Job, job_id) if job_id is not None else None


def find_item(session: Session, item_id: int) -> Optional[Item]:
    return session.get(Item, item_id)


def item_with_label(session: Session, item_id: int
                    ) -> Optional[tuple[Item, Dataset, Optional[LabelClass]]]:
    """The item, its data set and its current label class (None when unlabeled)."""
    row = session.execute(
        select(Item, Dataset, LabelClass).join(Dataset, Dataset.id == Item.dataset_id)
        .outerjoin(CurrentLabel, CurrentLabel.item_id == Item.id)
        .outerjoin(LabelClass, LabelClass.id == CurrentLabel.label_id)
        .where(Item.id == item_id)).first()
    return None if row is None else tuple(row)


def current_label_class(session: Session, item_id: int) -> Optional[LabelClass]:
    """The class the item carries now, or None when it is unlabeled."""
    current = session.get(CurrentLabel, item_id)
    return session.get(LabelClass, current.label_id) if current is not None else None


def all_labeled(session: Session, item_ids: Sequence[int]) -> bool:
    """Whether every one of ``item_ids`` carries a label (True for none)."""
    labeled = session.scalar(select(func.count()).select_from(CurrentLabel)
                             .where(CurrentLabel.item_id.in_(list(item_ids))))
    return labeled == len(item_ids)


def training_run(session: Session, job: Optional[Job], train_kind: str,
                 infer_kind: str) -> Optional[Job]:
    """The ``train_kind`` run behind ``job``: the job itself, or the model an ``infer_kind``
    job applied (None for any other job, or when that model is gone)."""
    if job is not None and job.kind == infer_kind:
        job = find_job(session, job.params.get("model_job_id"))
    return job if job is not None and job.kind == train_kind else None
