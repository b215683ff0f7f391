"""Live suggestions: the feature jobs attached to a data set take newly arrived items.

A data set lists the finished feature jobs (an autoencoder's or classifier's inference,
scattering features...) whose models run over its new items (``datasets.live_feature_jobs``).
When items arrive, :func:`extend_attached_features` queues one small ``live_features`` job
per attached feature job (``ml.kinds.live_features``), which appends the items' vectors,
and a classifier's probabilities, to that job: similarity, suggestions and probability
labeling read them through ``ml.features`` as soon as the job is done.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from db.models import Job
from db.session import transaction
from db.store import get_dataset
from errors import DomainError
from ml.jobs import create_job
from ml.kinds.live_features import MAX_ITEMS, extendable_feature_job

log = logging.getLogger(__name__)
MAX_ATTACHED = 8
FIELD = "feature_job_ids"
LIVE_OWNER = "live"  # the owner of the jobs that new items start


def attached_feature_jobs(session: Session, dataset_id: int) -> list[int]:
    """The feature jobs attached to the data set that still exist and are finished."""
    attached = get_dataset(session, dataset_id).live_feature_jobs or []
    return [job_id for job_id in attached
            if (job := session.get(Job, job_id)) is not None and job.status == "succeeded"]


def attach_feature_jobs(session: Session, dataset_id: int, job_ids: Sequence[int]) -> list[int]:
    """Make ``job_ids`` the data set's attached feature jobs (an empty list detaches all),
    each checked: a finished feature job of this data set whose kind can take new items."""
    dataset = get_dataset(session, dataset_id)
    wanted = list(dict.fromkeys(job_ids))
    if len(wanted) > MAX_ATTACHED:
        raise DomainError(f"{FIELD}: at most {MAX_ATTACHED} feature jobs can be attached; "
                          f"{len(wanted)} were given", FIELD)
    for job_id in wanted:
        extendable_feature_job(session, job_id, dataset_id, FIELD)
    dataset.live_feature_jobs = wanted
    return wanted


def extend_attached_features(session_factory: sessionmaker[Session], dataset_id: int,
                             item_ids: Sequence[int], submit: Callable[[int], None],
                             owner: str = LIVE_OWNER) -> list[int]:
    """Queue ``live_features`` jobs that add ``item_ids`` (items of the data set) to each
    attached feature job, at most MAX_ITEMS items a job; the new jobs' ids.

    ``submit(job_id)`` queues a created job: ``ml.jobs.submit_job`` with the app's Celery
    app, or ``ml.jobs.execute_job`` to run it in this process. An attached job that can no
    longer take items (deleted, or its model gone) is skipped with a warning: items keep
    arriving whatever happened to a model.
    """
    item_ids = sorted({int(item_id) for item_id in item_ids})
    if not item_ids:
        return []
    with session_factory() as session:
        attached = attached_feature_jobs(session, dataset_id)
    created = []
    for feature_job_id in attached:
        for start in range(0, len(item_ids), MAX_ITEMS):
            params = {"feature_job_id": feature_job_id,
                      "item_ids": item_ids[start:start + MAX_ITEMS]}
            try:
                with transaction(session_factory) as session:
                    job_id = create_job(session, "live_features", dataset_id, params, owner).id
            except DomainError as error:
                log.warning("new items of data set %s not added to job %s: %s", dataset_id,
                            feature_job_id, error)
                break
            submit(job_id)
            created.append(job_id)
    return created
