"""The one way to run a job: create (checked by its kind), submit, run, cancel.

A worker calls :func:`execute_job` (see ``worker.py``); the web app calls
:func:`start_job` (or :func:`create_job` + :func:`submit_job`), :func:`cancel_job` and
:func:`enforce_cancel`. The ``jobs`` row is the only channel between them: progress,
metrics, heartbeats and the cancel flag.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable, Optional, Sequence
from uuid import uuid4

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from db import jobs as job_store
from db.models import Dataset, Job
from db.session import transaction
from db.store import get_dataset
from errors import DomainError
from ml.kinds import QUEUES, JobCancelled, get_kind
from ml.kinds.context import LOG_NAME, JobContext

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 5.0
# Far above HEARTBEAT_SECONDS: a busy database must not make a live job look dead.
STALE_AFTER_SECONDS = 60.0
CANCEL_GRACE_SECONDS = 30.0
LOG_TAIL_LINES = 50
TASK_NAMES = {queue: f"beamlabel.{queue}_job" for queue in QUEUES}


def new_artifact_dir(artifacts_dir: Path, job_id: int) -> Path:
    """A new, empty folder for the job's files: ``job-<id>``, or ``job-<id>-2`` (-3, ...)
    when that name is taken, e.g. by a job of an earlier database in the same data home:
    the files of another job are never mixed in or overwritten."""
    base = Path(artifacts_dir) / f"job-{job_id}"
    base.parent.mkdir(parents=True, exist_ok=True)
    candidate, attempt = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            attempt += 1
            candidate = base.with_name(f"{base.name}-{attempt}")


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
    folder = new_artifact_dir(artifacts_dir, job_id)
    with transaction(session_factory) as session:
        job = session.get(Job, job_id)
        # A re-delivered, cancelled or deleted job must not run (again).
        if job is None or not job_store.mark_running(session, job_id, task_id, folder):
            folder.rmdir()
            return None
        dataset = session.get(Dataset, job.dataset_id) if job.dataset_id else None
        params = dict(job.params)
    return JobContext(job.id, job.kind, params, dataset, folder, session_factory)


def _outcome(context: JobContext) -> tuple[str, Optional[dict], Optional[str]]:
    try:
        result = get_kind(context.kind).run(context)
    except JobCancelled:
        context.log("cancelled")
        return "cancelled", None, None
    except Exception as error:
        # The traceback goes to the worker's log only: the job's log and error are shown to
        # users, who need the reason, not the server's paths and code.
        log.exception("job %s (%s) failed", context.job_id, context.kind)
        reason = f"{type(error).__name__}: {error}"
        context.log(f"failed: {reason}")
        return "failed", None, reason
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
    """The Celery task that runs jobs of this kind: one task per queue (see worker.py)."""
    return TASK_NAMES[get_kind(kind_name).queue]


def submit_job(celery_app: Celery, session_factory: sessionmaker[Session], job_id: int) -> None:
    """Queue a created (committed) job on its kind's queue, storing the task id first."""
    task_id = uuid4().hex
    with transaction(session_factory) as session:
        job = job_store.get_job(session, job_id)
        job.celery_task_id = task_id
        name = task_name(job.kind)
    try:
        celery_app.send_task(name, args=[job_id], task_id=task_id)
    except Exception as error:  # the broker is down or refuses: say so, keep the reason
        reason = f"the job queue (the broker) could not be reached: {error}"
        with transaction(session_factory) as session:
            job_store.finish(session, job_id, "failed", error=reason)
        raise DomainError(f"{reason}. Job #{job_id} was not queued and is marked failed; "
                          "start it again once the broker (BEAMLABEL_BROKER_URL) runs",
                          status=503) from error


def create_job(session: Session, kind: str, dataset_id: Optional[int], params: dict[str, Any],
               owner: str, file_roots: Sequence[Path] = (),
               max_memory_bytes: Optional[float] = None) -> Job:
    """A queued job whose parameters and data set passed its kind's checks (a DomainError
    naming the field otherwise, and no row). A file the parameters name must lie inside
    ``file_roots`` (``Settings.file_roots``); a job estimated to need more than
    ``max_memory_bytes`` is refused."""
    job_kind = get_kind(kind)
    if dataset_id is not None:
        get_dataset(session, dataset_id)
    elif job_kind.needs_dataset:
        raise DomainError(f"a {kind} job needs a data set; give dataset_id", "dataset_id")
    checked = job_kind.check_params(dict(params or {}))
    if job_kind.check_files is not None:
        checked = job_kind.check_files(checked, file_roots)
    if job_kind.estimate_memory is not None and max_memory_bytes is not None:
        _check_memory(job_kind.estimate_memory(checked), max_memory_bytes)
    if job_kind.check_dataset is not None and dataset_id is not None:
        job_kind.check_dataset(session, dataset_id, checked)
    return job_store.add_job(session, kind, dataset_id, checked, owner)


def _check_memory(needed: float, limit: float) -> None:
    if needed > limit:
        raise DomainError(
            f"this job would need about {needed / 2**30:.1f} GB of memory, more than the "
            f"{limit / 2**30:g} GB a job may use here (BEAMLABEL_MAX_JOB_MEMORY_GB): use a "
            "smaller params.batch_size or image_size (or fewer channels)", "params.batch_size")


def start_job(celery_app: Celery, session_factory: sessionmaker[Session], kind: str,
              dataset_id: Optional[int], params: dict[str, Any], owner: str,
              file_roots: Sequence[Path] = (), max_memory_bytes: Optional[float] = None) -> int:
    """Check, record and queue a job; its id. A DomainError naming the field refuses it
    before anything is queued."""
    with transaction(session_factory) as session:
        job_id = create_job(session, kind, dataset_id, params, owner, file_roots,
                            max_memory_bytes).id
    submit_job(celery_app, session_factory, job_id)
    return job_id


def cancel_job(celery_app: Celery, session: Session, job_id: int) -> Job:
    """Cancel a queued job at once, or ask a running one to stop at its next batch."""
    job = job_store.request_cancel(session, job_id)
    if job.status == "cancelled" and job.celery_task_id:
        _revoke(celery_app, job.celery_task_id)  # drop the message if still queued
    return job


def _revoke(celery_app: Celery, task_id: str, terminate: bool = False) -> None:
    """Ask the workers to drop or end a task. A broker that is down cannot pass that on;
    the job's row says cancelled all the same, and a cancelled job never starts."""
    try:
        celery_app.control.revoke(task_id, terminate=terminate)
    except Exception as error:
        log.warning("could not revoke task %s (broker unreachable?): %s", task_id, error)


def enforce_cancel(celery_app: Celery, session: Session,
                   grace_seconds: float = CANCEL_GRACE_SECONDS,
                   end_worker: Optional[Callable[[list[int]], None]] = None) -> list[int]:
    """Terminate running jobs that ignored their cancel request past the grace period: by
    ``end_worker(job ids)`` (a watched local worker ends itself), else by revoking their
    tasks with terminate."""
    overdue = job_store.overdue_cancels(session, grace_seconds)
    if overdue and end_worker is not None:
        end_worker([job.id for job in overdue])
    for job in overdue:
        if job.celery_task_id and end_worker is None:
            _revoke(celery_app, job.celery_task_id, terminate=True)
        job_store.finish(session, job.id, "cancelled",
                         error="the job did not stop when asked; its worker process was ended")
    return [job.id for job in overdue]
