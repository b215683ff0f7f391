"""Queued jobs whose Celery message is lost: found and sent again, so that no job sits in
'queued' for ever without anybody saying so.

A message can vanish with the worker that held it (killed, or its pool hung after a
forced cancel) or with a broker that lost its data. A job counts as lost when it has been
queued for ``LOST_AFTER_SECONDS`` and its task id is in neither the broker (waiting, or
delivered and not acknowledged) nor any worker (running or reserved), twice in a row, a
check apart. Sending it again is safe: only the newest message of a job may start it
(``db.jobs.mark_running``).
"""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import Optional

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job, utcnow
from ml.jobs import TASK_NAMES, submit_job
from settings import Settings

log = logging.getLogger(__name__)
LOST_AFTER_SECONDS = 60.0
CHECK_EVERY_SECONDS = 15.0
INSPECT_TIMEOUT_SECONDS = 2.0
UNACKED_KEY = "unacked"  # kombu's Redis hash of delivered, unacknowledged messages


def _task_id(message: dict) -> Optional[str]:
    return (message.get("headers") or {}).get("id")


def _folder_task_ids(folder: Path) -> set[str]:
    """The task ids of the message files of kombu's filesystem transport."""
    found = set()
    for path in folder.glob("*.msg"):
        try:
            found.add(_task_id(json.loads(path.read_bytes())))
        except (OSError, ValueError, AttributeError):
            continue  # taken by a worker or half written as we looked
    return found


def _redis_task_ids(celery_app: Celery) -> set[str]:
    found = set()
    with celery_app.connection_for_read() as connection:
        client = connection.default_channel.client
        for queue in TASK_NAMES:  # each queue's list, and its priority lists
            for key in client.scan_iter(match=f"{queue}*", count=100):
                if client.type(key) in (b"list", "list"):
                    found.update(_task_id(json.loads(raw)) for raw in client.lrange(key, 0, -1))
        found.update(_task_id(json.loads(raw)[0]) for raw in client.hvals(UNACKED_KEY))
    return found


def broker_task_ids(celery_app: Celery, settings: Settings) -> set[str]:
    """Task ids of the messages the broker holds (raises when it cannot be reached)."""
    if settings.uses_local_broker:
        return _folder_task_ids(settings.broker_dir / "queue")
    return _redis_task_ids(celery_app)


def worker_task_ids(celery_app: Celery) -> tuple[set[str], set[str]]:
    """(running, reserved) task ids of every worker that answers."""
    inspect = celery_app.control.inspect(timeout=INSPECT_TIMEOUT_SECONDS)
    running = {task["id"] for tasks in (inspect.active() or {}).values() for task in tasks}
    reserved = {task["id"] for tasks in (inspect.reserved() or {}).values() for task in tasks}
    return running, reserved


def _long_queued(session: Session) -> dict[int, str]:
    """Job id -> task id of the jobs queued for longer than LOST_AFTER_SECONDS."""
    cutoff = utcnow() - timedelta(seconds=LOST_AFTER_SECONDS)
    return dict(session.execute(select(Job.id, Job.celery_task_id).where(
        Job.status == "queued", Job.created_at < cutoff)).all())


class LostJobs:
    """Sends lost jobs again; call ``check`` as often as you like (it acts at most every
    ``check_every`` seconds). ``held_by_hung_pool`` says whether the last check found a
    long-queued job reserved by a worker that runs no live job: its pool is stuck and the
    worker must go."""

    def __init__(self, celery_app: Celery, session_factory: sessionmaker[Session],
                 settings: Settings, check_every: float = CHECK_EVERY_SECONDS):
        self.celery_app, self.session_factory, self.settings = \
            celery_app, session_factory, settings
        self.check_every = check_every
        self.suspects: set[int] = set()
        self.held_by_hung_pool = False
        self._last_check = float("-inf")

    def check(self) -> list[int]:
        """The ids of the jobs sent again now."""
        if time.monotonic() - self._last_check < self.check_every:
            return []
        self._last_check = time.monotonic()
        with self.session_factory() as session:
            queued = _long_queued(session)
            running_jobs = set(session.scalars(select(Job.celery_task_id).where(
                Job.status == "running")))
        if not queued:
            self.suspects, self.held_by_hung_pool = set(), False
            return []
        try:
            held = broker_task_ids(self.celery_app, self.settings)
            running, reserved = worker_task_ids(self.celery_app)
        except Exception as error:  # the broker is down: nothing can be sent anyway
            log.warning("could not look for lost job messages: %s", error)
            return []
        # a queued job waits in a worker's hands while the worker runs no job that is still
        # alive (its pool hung, or runs one the database already gave up on)
        self.held_by_hung_pool = bool(reserved & set(queued.values())) \
            and not running & running_jobs
        missing = {job for job, task in queued.items()
                   if task not in held | running | reserved}
        lost, self.suspects = sorted(missing & self.suspects), missing - self.suspects
        for job_id in lost:
            log.warning("job %s was queued but its message was lost; sending it again", job_id)
            submit_job(self.celery_app, self.session_factory, job_id)
        return lost
