"""The job-files route: ``/jobs/<job_id>/files/<name>.png``, images a job saved.

Only PNG files inside the job's own artifact folder are served (reconstruction pairs and
the like); weights, vectors and logs stay behind the REST API.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

from db.models import MAX_ROW_ID, Job
from services import current_services

blueprint = Blueprint("job_files", __name__)
# A job's files never change once it has finished.
CACHE_SECONDS = 24 * 3600


@blueprint.route("/jobs/<int:job_id>/files/<path:name>")
def job_file(job_id: int, name: str):
    if not name.endswith(".png"):
        abort(404, description="only PNG images of a job are served here; use the REST API")
    with current_services().session_factory() as session:
        job = session.get(Job, job_id) if job_id <= MAX_ROW_ID else None
        folder = job.artifact_dir if job is not None else None
    if folder is None:
        abort(404, description=f"job {job_id} has no files")
    # send_from_directory refuses names that climb out of the folder.
    return send_from_directory(Path(folder), name, max_age=CACHE_SECONDS)
