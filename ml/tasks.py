"""The Celery tasks: ``beamlabel.gpu_job`` and ``beamlabel.cpu_job``, both ``run_job(job_id)``.

The database comes from the worker's settings; with one task per child process the engine
lives exactly as long as the job.
"""
from __future__ import annotations

from services import open_database
from ml.jobs import execute_job
from worker import app


def _run(task, job_id: int):
    settings = app.conf.beamlabel_settings
    engine, session_factory = open_database(settings)
    try:
        return execute_job(session_factory, settings.artifacts_dir, job_id, task.request.id)
    finally:
        engine.dispose()


@app.task(name="beamlabel.gpu_job", bind=True)
def gpu_job(self, job_id: int):
    return _run(self, job_id)


@app.task(name="beamlabel.cpu_job", bind=True)
def cpu_job(self, job_id: int):
    return _run(self, job_id)
