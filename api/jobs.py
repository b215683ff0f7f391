"""Jobs (training, inference and the like): start one, follow it, cancel it, delete it."""
from __future__ import annotations

from flask_openapi3 import Tag

from api.blueprints import resource_blueprint, tagger_of
from api.error_answers import responses
from api.models_jobs import JobDeleteOut, JobIn, JobListOut, JobOut, JobPath, JobsQuery
from auth.ownership import check_may_change_job
from db import jobs as job_store
from db.session import transaction
from ml import jobs as ml_jobs
from services import current_services

JOBS = Tag(name="jobs", description="training, inference and other jobs run by Celery workers")

blueprint = resource_blueprint("jobs")


def _job_out(job, with_log: bool = True) -> JobOut:
    fields = {name: getattr(job, name) for name in JobOut.model_fields if name != "log_tail"}
    return JobOut(**fields, log_tail=ml_jobs.log_tail(job) if with_log else [])


@blueprint.post("/jobs", tags=[JOBS], summary="Start a job: it is queued for a worker",
                description="The parameters are checked before anything is queued; a refusal "
                            "names the bad field, e.g. params.batch_size.",
                responses=responses(201, JobOut, 400, 404, 415, 503))
def create_job(body: JobIn):
    services = current_services()
    job_id = ml_jobs.start_job(services.celery(), services.session_factory, body.kind,
                               body.dataset_id, body.params, tagger_of(body.owner),
                               services.settings.file_roots, services.settings.max_job_bytes)
    return _get_job(job_id).model_dump(mode="json"), 201


def _get_job(job_id: int) -> JobOut:
    with current_services().session_factory() as session:
        return _job_out(job_store.get_job(session, job_id))


@blueprint.get("/jobs", tags=[JOBS],
               summary="The jobs, newest first, of a data set, kind or status",
               responses=responses(200, JobListOut))
def list_jobs(query: JobsQuery):
    services = current_services()
    services.check_jobs()
    with services.session_factory() as session:
        jobs = job_store.list_jobs(session, query.dataset_id, query.kind,
                                   statuses=[query.status] if query.status else None)
        return JobListOut(jobs=[_job_out(job, with_log=False) for job in jobs],
                          worker_notice=services.worker_notice()).model_dump(mode="json")


@blueprint.get("/jobs/<int:job_id>", tags=[JOBS],
               summary="One job: status, progress, metrics, error and the end of its log",
               responses=responses(200, JobOut, 404))
def get_job(path: JobPath):
    current_services().check_jobs()
    return _get_job(path.job_id).model_dump(mode="json")


@blueprint.post("/jobs/<int:job_id>/cancel", tags=[JOBS],
                summary="Cancel a job: a queued one at once, a running one at its next batch",
                description="A running job that does not stop within the grace period has "
                            "its worker process ended.",
                responses=responses(200, JobOut, 404))
def cancel_job(path: JobPath):
    services = current_services()
    with transaction(services.session_factory) as session:
        check_may_change_job(session, path.job_id)
        ml_jobs.cancel_job(services.celery(), session, path.job_id)
    return _get_job(path.job_id).model_dump(mode="json")


@blueprint.delete("/jobs/<int:job_id>", tags=[JOBS],
                  summary="Delete a job that is not running, with its artifact folder",
                  responses=responses(200, JobDeleteOut, 404, 409))
def delete_job(path: JobPath):
    with transaction(current_services().session_factory) as session:
        check_may_change_job(session, path.job_id)
        job_store.delete_job(session, path.job_id)
    return JobDeleteOut(job_id=path.job_id, deleted=True).model_dump(mode="json")
