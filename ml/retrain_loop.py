"""The retrain loop: a classifier kept trained on a data set's labels as they accumulate, so
that suggestions come from the freshest model.

When a data set's loop is on and ``every_labels`` labels were given since its last try, a
step queues a ``classifier_train`` on the current labels (with the parameters of the data
set's last successful classifier training, else the kind's defaults); the step after that
training succeeded queues its ``classifier_infer``, whose vectors and probabilities become
the loop's model (``LoopStatus.source``). "Retrain now" is a step that trains whatever the
count says. A step never queues a job while one of its loop's jobs is queued or running.

:func:`step` is called after every commit that wrote labels (``services``), by a worker
after each loop job it ran (``worker``) and by the label page while it shows the loop, so
the loop moves on locally and on a shared server, with or without a page open.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from db import retrain_loops as loop_store
from db.jobs import list_jobs
from db.models import Job, RetrainLoop
from db.session import transaction
from db.store import labels_since, last_event_id
from errors import DomainError
from ml.jobs import create_job, submit_job

ACTIVE = ("queued", "running")


def _job(session: Session, job_id: Optional[int]) -> Optional[Job]:
    return session.get(Job, job_id) if job_id is not None else None


def _training_params(session: Session, dataset_id: int) -> dict:
    """The data set's last successful classifier training's parameters, on the current
    labels; the kind's defaults when there is none."""
    last = next((job for job in list_jobs(session, dataset_id, "classifier_train")
                 if job.status == "succeeded"), None)
    return {**(last.params if last else {}), "event_id": 0}


def _next_job(session: Session, loop: RetrainLoop, owner: str, now: bool,
              file_roots: Sequence[Path]) -> Optional[int]:
    training, inference = _job(session, loop.train_job_id), _job(session, loop.infer_job_id)
    if inference is not None and inference.status == "succeeded":
        loop.source_job_id = inference.id
    running = next((job for job in (training, inference) if job and job.status in ACTIVE), None)
    if running is not None:
        if now:
            raise DomainError(f"the loop's {running.kind} job {running.id} is {running.status}; "
                              "wait for it to finish or cancel it", "retrain_loop", status=409)
        return None
    if training is not None and training.status == "succeeded" and (
            inference is None or inference.params.get("model_job_id") != training.id):
        loop.infer_job_id = create_job(session, "classifier_infer", loop.dataset_id,
                                       {"model_job_id": training.id}, owner).id
        return loop.infer_job_id
    due = loop.enabled and labels_since(session, loop.dataset_id,
                                        loop.attempt_event_id) >= loop.every_labels
    if not (due or now):
        return None
    loop.attempt_event_id = last_event_id(session, loop.dataset_id)
    try:
        job = create_job(session, "classifier_train", loop.dataset_id,
                         _training_params(session, loop.dataset_id), owner, file_roots)
    except DomainError as error:
        if now:
            raise
        loop.refusal = str(error)  # shown with the loop's status until the next try
        return None
    loop.train_job_id, loop.refusal = job.id, None
    return job.id


def decide(session_factory: sessionmaker[Session], dataset_id: int, owner: str,
           now: bool = False, file_roots: Sequence[Path] = ()) -> Optional[int]:
    """The job the loop needs next, created (queued, committed, not yet sent to a worker):
    its id, or None when nothing is due. ``now``: train even if fewer labels came, or say
    why not (a DomainError). A weights file the training names must lie in ``file_roots``."""
    with transaction(session_factory) as session:
        loop = loop_store.locked_loop(session, dataset_id, create=now)
        return (_next_job(session, loop, owner, now, file_roots) if loop is not None
                else None)


def step(celery_app: Celery, session_factory: sessionmaker[Session], dataset_id: int,
         owner: str, now: bool = False, file_roots: Sequence[Path] = ()) -> Optional[int]:
    """One step of the data set's loop: the job it decided on, sent to a worker; its id."""
    job_id = decide(session_factory, dataset_id, owner, now, file_roots)
    if job_id is not None:
        submit_job(celery_app, session_factory, job_id)
    return job_id


def step_after_job(celery_app: Celery, session_factory: sessionmaker[Session],
                   job_id: int, file_roots: Sequence[Path] = ()) -> Optional[int]:
    """The step a worker takes after running ``job_id``: a loop job's end moves its loop on
    (an inference after a training), any other job's changes nothing."""
    with session_factory() as session:
        job = session.get(Job, job_id)
        loop = session.get(RetrainLoop, job.dataset_id) if job and job.dataset_id else None
        if loop is None or job_id not in (loop.train_job_id, loop.infer_job_id):
            return None
        dataset_id, owner = job.dataset_id, job.owner
    return step(celery_app, session_factory, dataset_id, owner, file_roots=file_roots)


@dataclass(frozen=True)
class LoopStatus:
    enabled: bool
    every_labels: int
    running: Optional[Job]  # the loop's queued or running job
    source: Optional[Job]  # its newest succeeded inference: the suggestions' feature source
    trained_on: Optional[int]  # labels the source's classifier learnt from
    new_labels: int  # labels given since that classifier was trained (since the start: none)
    labels_to_next: int  # labels still to give before the next retraining
    problem: Optional[str]  # why the newest try gave no model

    @property
    def source_job_id(self) -> Optional[int]:
        return self.source.id if self.source is not None else None


def _problem(loop: RetrainLoop, newest: Optional[Job]) -> Optional[str]:
    if newest is not None and newest.status in ("failed", "cancelled"):
        return f"{newest.kind} job {newest.id} {newest.status}: {newest.error or 'no reason given'}"
    return loop.refusal


def loop_status(session: Session, dataset_id: int) -> LoopStatus:
    """Where the data set's loop stands (off, every 200 labels, when never set)."""
    loop = loop_store.loop_of(session, dataset_id)
    training, inference = _job(session, loop.train_job_id), _job(session, loop.infer_job_id)
    running = next((job for job in (training, inference) if job and job.status in ACTIVE), None)
    source = next((job for job in (inference, _job(session, loop.source_job_id))
                   if job is not None and job.status == "succeeded"), None)
    model = _job(session, source.params.get("model_job_id")) if source is not None else None
    result = model.result if model is not None else {}
    newest = max((job for job in (training, inference) if job), key=lambda job: job.id,
                 default=None)
    since_try = labels_since(session, dataset_id, loop.attempt_event_id)
    return LoopStatus(
        enabled=loop.enabled, every_labels=loop.every_labels, running=running, source=source,
        trained_on=result.get("images"),
        new_labels=labels_since(session, dataset_id, result.get("trained_on_event_id") or 0),
        labels_to_next=max(loop.every_labels - since_try, 0), problem=_problem(loop, newest))
