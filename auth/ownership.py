"""What only its owner (or an admin) may change: a tagging event (undo) and a job
(cancel, delete). The API and the pages call these before they change either."""
from __future__ import annotations

from sqlalchemy.orm import Session

from auth.identity import require_own
from db.models import Job, TaggingEvent


def check_may_undo(session: Session, event_id: int) -> None:
    event = session.get(TaggingEvent, event_id)
    if event is not None:  # a missing event is answered by the undo itself
        require_own(event.tagger, f"event {event_id}")


def check_may_change_job(session: Session, job_id: int) -> None:
    job = session.get(Job, job_id)
    if job is not None:
        require_own(job.owner, f"job {job_id}")
