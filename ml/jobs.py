"""Running jobs: the context a job kind runs in, and submitting / cancelling from the web app.

A worker calls :func:`execute_job` (see ``ml.tasks``); the web app calls
:func:`submit_job`, :func:`cancel_job` and :func:`enforce_cancel`. The ``jobs`` row is the
only channel between them: progress, metrics, heartbeats and the cancel flag.
"""
from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional
from uuid import uuid4

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from data.catalog import source_of
from data.local_copy import LocalCopySource
from data.sources.base import DataSource
from db import jobs as job_store
from db.models import Dataset, Job
from db.session import transaction
from ml.job_kinds import JobCancelled, get_kind

HEARTBEAT_SECONDS = 5.0
# Far above HEARTBEAT_SECONDS: a busy database must not make a live job look dead.
STALE_AFTER_SECONDS = 60.0
CANCEL_POLL_SECONDS = 1.0
CANCEL_GRACE_SECONDS = 30.0
LOG_NAME = "job.log"
LOG_TAIL_LINES = 50
TRAINING_COPIES = "training-copies"  # next to the job folders: copies of remote data sets


def artifact_dir_of(artifacts_dir: Path, job_id: int) -> Path:
    return Path(artifacts_dir) / f"job-{job_id}"


@dataclass
class JobContext:
    """What a job kind's ``run`` gets: its parameters, data set, folder and reporting."""

    job_id: int
    kind: str
    params: dict[str, Any]
    dataset: Optional[Dataset]
    artifact_dir: Path
    session_factory: sessionmaker[Session]
    _last_poll: float = field(default=0.0, repr=False)
    _stop: bool = field(default=False, repr=False)

    def report(self, progress: float, metrics_row: Optional[dict[str, Any]] = None) -> None:
        """Progress in [0, 1] and, once per epoch or batch, a row of metrics."""
        with transaction(self.session_factory) as session:
            job_store.report_progress(session, self.job_id, progress, metrics_row)

    def should_stop(self) -> bool:
        """Whether the job was asked to stop (reads the database at most once a second)."""
        now = time.monotonic()
        if not self._stop and now - self._last_poll >= CANCEL_POLL_SECONDS:
            self._last_poll = now
            with self.session_factory() as session:
                self._stop = job_store.cancel_requested(session, self.job_id)
        return self._stop

    def training_source(self) -> DataSource:
        """The data set's source for training: frames of a remote (Tiled) data set are
        copied into the artifacts folder once and read locally by every later run."""
        source = source_of(self.dataset)
        if self.dataset.source_kind == "directory":
            return source
        copies = self.artifact_dir.parent / TRAINING_COPIES / f"dataset-{self.dataset.id}"
        return LocalCopySource(source, copies)

    def log(self, message: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with open(self.artifact_dir / LOG_NAME, "a", encoding="utf-8") as log_file:
            log_file.write(f"{stamp} {message}\n")


def log_tail(job: Job, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last lines of a job's log (empty before it started)."""
    if not job.artifact_dir:
        return []
    try:
        with open(Path(job.artifact_dir) / LOG_NAME, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n") for line in deque(f, maxlen=lines)]
    except FileNotFoundError:
        return []


class _Heartbeat(threading.Thread):
    """Tells the database every few seconds that the worker is still alive."""

    def __init__(self, session_factory: sessionmaker[Session], job_id: int):
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.session_factory, self.job_id = session_factory, job_id
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_SECONDS):
            try:
                with transaction(self.session_factory) as session:
                    job_store.heartbeat(session, self.job_id)
            except Exception:  # a missed beat is harmless; the next one may get through
                pass


def _start(session_factory: sessionmaker[Session], artifacts_dir: Path, job_id: int,
           task_id: Optional[str]) -> Optional[JobContext]:
    """Mark the job running and build its context; None when it must not run."""
    folder = artifact_dir_of(artifacts_dir, job_id)
    with transaction(session_factory) as session:
        job = session.get(Job, job_id)
        # A re-delivered, cancelled or deleted job must not run (again).
        if job is None or not job_store.mark_running(session, job_id, task_id, folder):
            return None
        dataset = session.get(Dataset, job.dataset_id) if job.dataset_id else None
        params = dict(job.params)
    folder.mkdir(parents=True, exist_ok=True)
    return JobContext(job.id, job.kind, params, dataset, folder, session_factory)


def _outcome(context: JobContext) -> tuple[str, Optional[dict], Optional[str]]:
    try:
        result = get_kind(context.kind).run(context)
    except JobCancelled:
        context.log("cancelled")
        return "cancelled", None, None
    except Exception as error:
        context.log("failed:\n" + "".join(traceback.format_exc(limit=20)))
        return "failed", None, f"{type(error).__name__}: {error}"
    context.log("succeeded")
    return "succeeded", result, None


def execute_job(session_factory: sessionmaker[Session], artifacts_dir: Path, job_id: int,
                task_id: Optional[str] = None) -> Optional[str]:
    """Run one queued job to its end; returns its final status (None: it was not run)."""
    context = _start(session_factory, artifacts_dir, job_id, task_id)
    if context is None:
        return None
    context.log(f"started {context.kind} with {context.params}")
    beat = _Heartbeat(session_factory, job_id)
    beat.start()
    try:
        status, result, error = _outcome(context)
    finally:
        beat.stopped.set()
    with transaction(session_factory) as session:
        job_store.finish(session, job_id, status, result, error)
    return status


# --- the web app's side ----------------------------------------------------------------------

def task_name(kind_name: str) -> str:
    return f"beamlabel.{get_kind(kind_name).queue}_job"


def submit_job(celery_app: Celery, session_factory: sessionmaker[Session], job_id: int) -> None:
    """Queue a created (committed) job on its kind's queue, storing the task id first."""
    task_id = uuid4().hex
    with transaction(session_factory) as session:
        job = job_store.get_job(session, job_id)
        job.celery_task_id = task_id
        name = task_name(job.kind)
    try:
        celery_app.send_task(name, args=[job_id], task_id=task_id)
    except Exception as error:
        with transaction(session_factory) as session:
            job_store.finish(session, job_id, "failed",
                             error=f"the job could not be queued: {error}")
        raise


def start_job(celery_app: Celery, session_factory: sessionmaker[Session], kind: str,
              dataset_id: Optional[int], params: dict[str, Any], owner: str) -> int:
    """Check, record and queue a job; its id. A DomainError naming the field refuses it
    before anything is queued."""
    with transaction(session_factory) as session:
        job_id = job_store.create_job(session, kind, dataset_id, params, owner).id
    submit_job(celery_app, session_factory, job_id)
    return job_id


def cancel_job(celery_app: Celery, session: Session, job_id: int) -> Job:
    """Cancel a queued job at once, or ask a running one to stop at its next batch."""
    job = job_store.request_cancel(session, job_id)
    if job.status == "cancelled" and job.celery_task_id:
        celery_app.control.revoke(job.celery_task_id)  # drop the message if still queued
    return job


def enforce_cancel(celery_app: Celery, session: Session,
                   grace_seconds: float = CANCEL_GRACE_SECONDS) -> list[int]:
    """Terminate running jobs that ignored their cancel request past the grace period."""
    overdue = job_store.overdue_cancels(session, grace_seconds)
    for job in overdue:
        if job.celery_task_id:
            celery_app.control.revoke(job.celery_task_id, terminate=True)
        job_store.finish(session, job.id, "cancelled",
                         error="the job did not stop when asked; its worker process was ended")
    return [job.id for job in overdue]
