"""Live suggestions: the feature jobs attached to a data set take newly arrived items.

A data set lists the finished feature jobs (an autoencoder's or classifier's inference,
scattering features...) whose models run over its new items (``datasets.live_feature_jobs``).
When items arrive, :func:`extend_attached_features` queues one small ``live_features`` job
per attached feature job (``ml.kinds.live_features``), which appends the items' vectors,
and a classifier's probabilities, to that job: similarity, suggestions and probability
labeling read them through ``ml.features`` as soon as the job is done.

While arrivals keep coming, the worker process that ran one such job takes the next
queued ones itself (:func:`take_queued_batches`), so a batch does not wait for a new pool
process (0.8 s of a 1.8 s median latency): jobs queued while one runs get no Celery
message at all, and the process sends those it leaves behind when it stops.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.jobs import delete_job
from db.models import Job
from db.session import transaction
from db.store import get_dataset
from errors import DomainError
from ml.jobs import create_job, execute_job
from ml.kinds import get_kind
from ml.kinds.live_features import MAX_ITEMS, extendable_feature_job

log = logging.getLogger(__name__)
MAX_ATTACHED = 8
FIELD = "feature_job_ids"
LIVE_OWNER = "live"  # the owner of the jobs that new items start
KIND = "live_features"
# How long a worker process that ran a live batch waits for the next one before it ends
# (its pool starts a new process for the next message), and how often it looks meanwhile.
LINGER_SECONDS = 3.0
LOOK_SECONDS = 0.02
# Finished live batches kept (the newest; their rows live on in the feature jobs' chunks):
# arrivals at 20 a second make about one a look, 70,000 an hour, which would bury the
# jobs panel and fill the jobs table.
KEPT_BATCHES = 200


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
    app, or ``ml.jobs.execute_job`` to run it in this process; it is not called while a
    live_features job runs (its worker process takes the new ones: take_queued_batches).
    An attached job that can no longer take items (deleted, or its model gone) is skipped
    with a warning: items keep arriving whatever happened to a model.
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
                    job_id = create_job(session, KIND, dataset_id, params, owner).id
                    taken_by_worker = _running_batch(session)
            except DomainError as error:
                log.warning("new items of data set %s not added to job %s: %s", dataset_id,
                            feature_job_id, error)
                break
            if not taken_by_worker:
                submit(job_id)
            created.append(job_id)
    return created


def _running_batch(session: Session) -> bool:
    return session.scalar(select(Job.id).where(Job.kind == KIND, Job.status == "running")
                          .limit(1)) is not None


def _queued(session_factory: sessionmaker[Session]) -> list[tuple[int, str, str | None]]:
    with session_factory() as session:
        return list(session.execute(select(Job.id, Job.kind, Job.celery_task_id)
                                    .where(Job.status == "queued").order_by(Job.id)).all())


def take_queued_batches(session_factory: sessionmaker[Session], artifacts_dir: Path,
                        queues: Collection[str], submit: Callable[[int], None],
                        linger_seconds: float = LINGER_SECONDS) -> int:
    """In the worker process that has just run a live_features job: run the queued ones,
    oldest first, until none came for ``linger_seconds`` or a job of another kind waits on
    one of this worker's ``queues`` (its Celery message gets the process then). Queued
    live jobs never sent (they were made while one ran) are sent with ``submit`` at the
    end. Returns how many it ran."""
    ran, idle_since = 0, time.monotonic()
    while True:
        queued = _queued(session_factory)
        if any(kind != KIND and get_kind(kind).queue in queues for _, kind, _ in queued):
            break
        batches = [job_id for job_id, kind, _ in queued if kind == KIND]
        if batches:
            # a job another process took meanwhile is skipped by execute_job (None)
            ran += execute_job(session_factory, artifacts_dir, batches[0]) is not None
            prune_finished_batches(session_factory)
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= linger_seconds:
            break
        else:
            time.sleep(LOOK_SECONDS)
    # A batch made while our last one ran may commit just after that one ended: let it in
    # (one that comes later still is sent again by ml.job_queue after a minute).
    time.sleep(LOOK_SECONDS)
    send_unsent_batches(session_factory, submit)
    return ran


def send_unsent_batches(session_factory: sessionmaker[Session],
                        submit: Callable[[int], None]) -> list[int]:
    """Send the queued live batches that never got a message (made while one ran, for the
    process running it to take: when it ends or dies, they need one); their ids."""
    unsent = [job_id for job_id, kind, task_id in _queued(session_factory)
              if kind == KIND and task_id is None]
    for job_id in unsent:
        submit(job_id)
    return unsent


def prune_finished_batches(session_factory: sessionmaker[Session],
                           keep: int = KEPT_BATCHES) -> int:
    """Delete the succeeded live batches but the newest ``keep``; how many went."""
    with transaction(session_factory) as session:
        old = session.scalars(select(Job.id).where(Job.kind == KIND, Job.status == "succeeded")
                              .order_by(Job.id.desc()).offset(keep)).all()
        for job_id in old:
            delete_job(session, job_id)
    return len(old)
