"""Opening a projection for the explorer: reuse an identical one, run a small PCA at once,
queue anything bigger on a worker."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from db.models import Job
from db.session import transaction
from ml.jobs import create_job, execute_job, submit_job
from ml.kinds import get_kind
from ml.kinds.projection import KIND
from ml.projection_results import find_projection

INLINE_ITEMS = 2_000  # a PCA of at most this many items runs in the request, not on a worker


def open_or_start_projection(celery_app: Celery, session_factory: sessionmaker[Session],
                             artifacts_dir: Path, dataset_id: int, params: dict[str, Any],
                             owner: str) -> tuple[int, str]:
    """The projection job with these parameters and what became of it, in words: an
    identical one is opened, a small PCA runs here, anything else is queued."""
    with transaction(session_factory) as session:
        checked = get_kind(KIND).check_params(params)
        existing = find_projection(session, dataset_id, checked)
        if existing is not None and existing.status == "succeeded":
            return existing.id, f"Already computed as job {existing.id}: opened."
        if existing is not None:
            return existing.id, f"The same projection is job {existing.id} ({existing.status})" \
                                "; it opens when done."
        job = create_job(session, KIND, dataset_id, params, owner)
        job_id, items = job.id, session.get(Job, params["feature_job_id"]).result["items"]
    if checked["method"] == "pca" and items <= INLINE_ITEMS:
        start = time.monotonic()
        status = execute_job(session_factory, artifacts_dir, job_id)
        return job_id, f"Job {job_id}: {status} in {time.monotonic() - start:.1f} s."
    submit_job(celery_app, session_factory, job_id)
    return job_id, f"Job {job_id} queued: {items:,} items; it opens when done."
