"""The ``jobs`` table: create, follow, cancel and clean up training / inference jobs.

Every function takes an open :class:`~sqlalchemy.orm.Session`; the caller owns the
transaction (``db.session.transaction``). Parameters are checked by the job kind's own
checker (``ml.jobs.create_job``) before a row exists, so a refused job leaves nothing behind.
State changes of a finished job are ignored: a late report from a worker cannot bring a
cancelled or failed job back.
"""
from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional, Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.models import Job, as_utc, utcnow
from errors import DomainError

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
STALE_REASON = ("the worker stopped while running this job (killed or crashed); "
                "start it again")


def add_job(session: Session, kind: str, dataset_id: Optional[int], params: dict[str, Any],
            owner: str) -> Job:
    """A queued job row; its parameters were checked by its kind (``ml.jobs.create_job``)."""
    job = Job(kind=kind, dataset_id=dataset_id, params=params, owner=owner, status="queued",
              progress=0.0, metrics=[], result={})
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise DomainError(f"job {job_id} does not exist", "job_id", status=404)
    return job


def list_jobs(session: Session, dataset_id: Optional[int] = None,
              kind: Optional[str] = None, *, kinds: Optional[Sequence[str]] = None,
              statuses: Optional[Sequence[str]] = None,
              limit: Optional[int] = None) -> list[Job]:
    """Jobs, newest first, optionally of one data set, of one kind (or of ``kinds``), of
    ``statuses``, at most ``limit`` of them."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if dataset_id is not None:
        query = query.where(Job.dataset_id == dataset_id)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if kinds:
        query = query.where(Job.kind.in_(list(kinds)))
    if statuses:
        query = query.where(Job.status.in_(list(statuses)))
    return list(session.scalars(query))


# Parameters that name an earlier job the new one is built on: any ``*_job_id``, and the
# model a training starts from (fine-tuning).
BASE_JOB_PARAMS = ("init_model",)


def _names_job(name: str, value: Any, job_id: int) -> bool:
    """Whether the parameter ``name`` = ``value`` names the job ``job_id``."""
    return ((name.endswith("_job_id") or name in BASE_JOB_PARAMS)
            and not isinstance(value, bool) and value == job_id)


def jobs_built_on(session: Session, job: Job) -> list[Job]:
    """The jobs, of any data set, whose parameters name ``job`` (``model_job_id``,
    ``feature_job_id``, ``source_job_id``, ``init_model``...): newest first."""
    others = session.scalars(select(Job).where(Job.id != job.id).order_by(Job.id.desc()))
    return [other for other in others
            if any(_names_job(name, value, job.id) for name, value in other.params.items())]


def artifact_contents(job: Job) -> tuple[int, int]:
    """(files, bytes) in the job's artifact folder, its subfolders included."""
    folder = Path(job.artifact_dir) if job.artifact_dir else None
    files = [path for path in folder.rglob("*") if path.is_file()] if folder else []
    return len(files), sum(path.stat().st_size for path in files)


def finished_job(session: Session, job_id: int, kind: str,
                 field: str = "params.model_job_id") -> Job:
    """The succeeded job ``job_id`` of ``kind``, or a DomainError naming ``field``."""
    job = session.get(Job, job_id)
    if job is None or job.kind != kind or job.status != "succeeded":
        raise DomainError(f"{field}: job {job_id} is not a finished {kind} job; choose one "
                          f"whose status is succeeded", field)
    return job


def mark_running(session: Session, job_id: int, celery_task_id: Optional[str],
                 artifact_dir: Optional[Path] = None) -> bool:
    """Queued → running; False (and no change) when the job is no longer queued, or when
    the job was sent again since this message (``ml.job_queue``): only the newest runs.
    One conditional update, so of two processes that try at once (a message and a worker
    process taking queued live batches itself) one wins."""
    get_job(session, job_id)  # a DomainError when there is none
    wanted = [Job.id == job_id, Job.status == "queued"]
    if celery_task_id:
        wanted.append(or_(Job.celery_task_id.is_(None), Job.celery_task_id == celery_task_id))
    now = utcnow()
    changes = {"status": "running", "started_at": now, "heartbeat_at": now}
    if artifact_dir is not None:
        changes["artifact_dir"] = str(artifact_dir)
    if celery_task_id:
        changes["celery_task_id"] = celery_task_id
    taken = session.execute(update(Job).where(*wanted).values(**changes)
                            .execution_options(synchronize_session="fetch")).rowcount
    return taken == 1


def report_progress(session: Session, job_id: int, progress: float,
                    metrics_row: Optional[dict[str, Any]] = None) -> None:
    job = get_job(session, job_id)
    if job.status != "running":
        return
    job.progress = min(max(float(progress), 0.0), 1.0)
    if metrics_row is not None:
        job.metrics = [*job.metrics, metrics_row]  # a new list, so the JSON column is saved
    job.heartbeat_at = utcnow()


def heartbeat(session: Session, job_id: int) -> None:
    job = get_job(session, job_id)
    if job.status == "running":
        job.heartbeat_at = utcnow()


def finish(session: Session, job_id: int, status: str, result: Optional[dict] = None,
           error: Optional[str] = None) -> bool:
    """End a queued or running job; False when it had already ended."""
    if status not in FINISHED:
        raise ValueError(f"finish() takes one of {FINISHED}, not {status!r}")
    job = get_job(session, job_id)
    if job.status in FINISHED:
        return False
    job.status, job.error, job.finished_at = status, error, utcnow()
    if result is not None:
        job.result = result
    if status == "succeeded":
        job.progress = 1.0
    return True


def request_cancel(session: Session, job_id: int) -> Job:
    """A queued job is cancelled at once; a running one is asked to stop."""
    job = get_job(session, job_id)
    if job.status == "queued":
        finish(session, job_id, "cancelled")
    elif job.status == "running" and not job.cancel_requested:
        job.cancel_requested, job.cancel_requested_at = True, utcnow()
    return job


def cancel_requested(session: Session, job_id: int) -> bool:
    job = session.get(Job, job_id)
    return job is None or job.cancel_requested or job.status in FINISHED


def overdue_cancels(session: Session, grace_seconds: float) -> list[Job]:
    """Running jobs that have ignored their cancel request for longer than the grace."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    asked = session.scalars(select(Job).where(Job.status == "running", Job.cancel_requested))
    return [job for job in asked if (as_utc(job.cancel_requested_at) or cutoff) < cutoff]


def fail_stale_jobs(session: Session, stale_after_seconds: float = 0.0,
                    reason: str = STALE_REASON) -> list[int]:
    """Fail running jobs whose worker sent no heartbeat for ``stale_after_seconds`` (0: every
    running job, when their worker is known to be gone); returns their ids."""
    cutoff = utcnow() - timedelta(seconds=stale_after_seconds)
    running = session.scalars(select(Job).where(Job.status == "running"))
    stale = [job for job in running if (as_utc(job.heartbeat_at or job.started_at)
                                        or cutoff) <= cutoff]
    for job in stale:
        finish(session, job.id, "failed", error=reason)
    return [job.id for job in stale]


def delete_job(session: Session, job_id: int) -> None:
    """Delete a job that is not running, with its artifact folder."""
    job = get_job(session, job_id)
    if job.status == "running":
        raise DomainError(f"job {job_id} is running; cancel it first", "job_id", status=409)
    if job.artifact_dir:
        shutil.rmtree(job.artifact_dir, ignore_errors=True)
    session.delete(job)
