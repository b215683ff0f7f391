"""The ``retrain_loops`` table: per data set, whether a classifier is kept trained on the
labels as they accumulate and every how many labels (off, every 200, until set). What the
loop decides is ``ml.retrain_loop``'s; like ``db.store``, every function takes an open
session and the caller owns the transaction.
"""
from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import update
from sqlalchemy.orm import Session

from db.models import RetrainLoop
from db.store import get_dataset
from errors import DomainError

EVERY_DEFAULT, EVERY_MIN, EVERY_MAX = 200, 10, 100_000


def loop_of(session: Session, dataset_id: int) -> RetrainLoop:
    """The data set's loop, or an unsaved one with the defaults when it was never set."""
    get_dataset(session, dataset_id)
    return session.get(RetrainLoop, dataset_id) or RetrainLoop(
        dataset_id=dataset_id, enabled=False, every_labels=EVERY_DEFAULT, attempt_event_id=0)


def check_every(every_labels: Any) -> int:
    whole = isinstance(every_labels, int) and not isinstance(every_labels, bool)
    if not whole or not EVERY_MIN <= every_labels <= EVERY_MAX:
        raise DomainError(f"every_labels must be a whole number of labels from {EVERY_MIN} to "
                          f"{EVERY_MAX:,} (got {every_labels!r})", "every_labels")
    return every_labels


def set_loop(session: Session, dataset_id: int, enabled: bool,
             every_labels: Any = EVERY_DEFAULT) -> RetrainLoop:
    """Turn the loop on or off and set how many new labels call for a retraining."""
    loop = loop_of(session, dataset_id)
    loop.enabled, loop.every_labels = bool(enabled), check_every(every_labels)
    session.add(loop)
    session.flush()
    return loop


def locked_loop(session: Session, dataset_id: int, create: bool = False
                ) -> Optional[RetrainLoop]:
    """The data set's loop, write-locked until the transaction ends (None when it was never
    set, unless ``create``), so that two steps of one loop never decide at the same time.

    The lock is an UPDATE, the transaction's first write: PostgreSQL locks the row, SQLite
    the database, and what is read after it is what the step before committed.
    """
    if session.get(RetrainLoop, dataset_id) is None:
        if not create:
            return None
        set_loop(session, dataset_id, enabled=False)
    session.execute(update(RetrainLoop).where(RetrainLoop.dataset_id == dataset_id)
                    .values(enabled=RetrainLoop.enabled))
    return session.get(RetrainLoop, dataset_id, populate_existing=True)
