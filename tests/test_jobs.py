"""Jobs end to end with real Celery workers: filesystem broker + SQLite, Redis + PostgreSQL."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import redis
import tifffile
from sqlalchemy import func, select

from data.catalog import register_dataset, scan_dataset
from db import jobs as job_store
from db.models import Job
from db.session import open_database, transaction
from errors import DomainError
from ml.job_queue import LOST_AFTER_SECONDS, LostJobs, broker_task_ids
from ml.jobs import (TASK_NAMES, cancel_job, create_job, enforce_cancel, execute_job, log_tail,
                     submit_job)
from settings import Settings
from tests.databases import create_postgres_schema
from worker import LocalWorker, WatchTimes, make_celery, start_worker, stop_worker

N_IMAGES = 12


def _write_folder(folder: Path) -> list[np.ndarray]:
    folder.mkdir()
    images = [np.random.default_rng(i).integers(0, 1000, (8, 8)).astype(np.uint16)
              for i in range(N_IMAGES)]
    for i, image in enumerate(images):
        tifffile.imwrite(folder / f"img_{i:02d}.tif", image)
    return images


class Setup:
    """Settings, database, a scanned data set and a Celery client, all under tmp_path."""

    def __init__(self, settings: Settings, dataset_dir: Path):
        self.settings = settings
        self.engine, self.session_factory = open_database(settings)
        self.images = _write_folder(dataset_dir)
        dataset = register_dataset(self.session_factory, settings.data_roots, "d", "directory",
                                   str(dataset_dir))
        scan_dataset(self.session_factory, dataset.id)
        self.dataset_id = dataset.id
        self.celery = make_celery(settings)
        self.workers = []

    def start_worker(self):
        with open(self.settings.home / "worker.log", "a") as log:
            process = start_worker(self.settings, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(process)
        return process

    def submit(self, **params) -> int:
        with transaction(self.session_factory) as session:
            job_id = create_job(session, "dataset_stats", self.dataset_id, params,
                                "tester").id
        submit_job(self.celery, self.session_factory, job_id)
        return job_id

    def job(self, job_id: int) -> Job:
        with self.session_factory() as session:
            return job_store.get_job(session, job_id)

    def wait_for(self, job_id: int, condition, timeout: float = 60) -> Job:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if condition(job):
                return job
            time.sleep(0.2)
        log = (self.settings.home / "worker.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"job {job_id} stayed {self.job(job_id).status}; worker log:\n{log}")

    def close(self):
        for process in self.workers:
            stop_worker(process, timeout=5)
        self.celery.close()
        self.engine.dispose()


@pytest.fixture(params=["filesystem+sqlite", "redis+postgresql"])
def setup(request, tmp_path):
    drop, broker = None, None
    if request.param == "filesystem+sqlite":
        settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,))
    else:
        database_url, drop = create_postgres_schema()
        # A Redis database of its own, so that no other test run's messages reach us.
        broker = f"redis://127.0.0.1:6379/{random.randint(1, 15)}"
        settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,),
                            database_url=database_url, broker_url=broker)
    setup = Setup(settings, tmp_path / "images")
    yield setup
    setup.close()
    if drop:
        drop()
    if broker:
        # A killed worker's unacknowledged message would come back to a later run's worker.
        redis.Redis.from_url(broker).flushdb()


def test_dataset_stats_job_succeeds_with_correct_stats(setup):
    setup.start_worker()
    job_id = setup.submit(batch_size=5)
    job = setup.wait_for(job_id, lambda j: j.status in job_store.FINISHED)
    assert job.status == "succeeded", job.error
    assert job.progress == 1.0 and job.started_at and job.finished_at
    assert [row["items"] for row in job.metrics] == [5, 10, 12]
    assert job.result["items"] == N_IMAGES and job.result["unreadable"] == 0
    folder = Path(job.artifact_dir)
    stats, ids = np.load(folder / "stats.npy"), np.load(folder / "item_ids.npy")
    expected = [(im.mean(), im.min(), im.max()) for im in setup.images]
    np.testing.assert_allclose(stats, expected)
    assert len(set(ids.tolist())) == N_IMAGES
    with setup.session_factory() as session:
        assert any("succeeded" in line for line in log_tail(job_store.get_job(session, job_id)))


def test_cancel_stops_a_running_job_within_seconds(setup):
    setup.start_worker()
    job_id = setup.submit(batch_size=1, delay_per_item=0.5)
    setup.wait_for(job_id, lambda j: j.status == "running" and j.metrics)
    with transaction(setup.session_factory) as session:
        cancel_job(setup.celery, session, job_id)
    job = setup.wait_for(job_id, lambda j: j.status in job_store.FINISHED, timeout=5)
    assert job.status == "cancelled" and len(job.metrics) < N_IMAGES


def test_a_queued_job_is_cancelled_at_once_and_never_runs(setup):
    job_id = setup.submit()  # no worker yet
    with transaction(setup.session_factory) as session:
        assert cancel_job(setup.celery, session, job_id).status == "cancelled"
    setup.start_worker()
    next_id = setup.submit()
    setup.wait_for(next_id, lambda j: j.status == "succeeded")
    assert setup.job(job_id).status == "cancelled" and setup.job(job_id).started_at is None


def test_a_job_deaf_to_cancel_is_terminated_and_the_worker_goes_on(setup):
    """The fallback: one batch of all items never reaches a cancel check (about 24 s). The
    local app's watched worker ends itself and a new one takes the next job (revoking with
    terminate left the next job queued once in a CI run: a Celery pool stall)."""
    watched = LocalWorker(setup.settings, setup.session_factory)
    try:
        job_id = setup.submit(batch_size=N_IMAGES, delay_per_item=2.0)
        setup.wait_for(job_id, lambda j: j.status == "running")
        with transaction(setup.session_factory) as session:
            cancel_job(setup.celery, session, job_id)
        time.sleep(0.5)
        with transaction(setup.session_factory) as session:
            assert enforce_cancel(setup.celery, session, grace_seconds=0.2,
                                  end_worker=watched.end_jobs) == [job_id]
        # The first job's worker was ended: the next job runs long before the first would
        # have finished its batch, and the first never reports success.
        next_id = setup.submit()
        assert setup.wait_for(next_id, lambda j: j.status in job_store.FINISHED,
                              timeout=30).status == "succeeded"
        job = setup.job(job_id)
        assert job.status == "cancelled" and "worker process was ended" in job.error
        assert job.metrics == []
        assert f"Job #{job_id} did not stop when cancelled" in watched.notice
    finally:
        watched.stop()


def test_a_killed_worker_leaves_a_failed_job_and_a_new_worker_goes_on(setup):
    worker = setup.start_worker()
    job_id = setup.submit(batch_size=1, delay_per_item=1.0)
    setup.wait_for(job_id, lambda j: j.status == "running")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    time.sleep(1.5)
    with transaction(setup.session_factory) as session:
        assert job_store.fail_stale_jobs(session, stale_after_seconds=1.0) == [job_id]
    job = setup.job(job_id)
    assert job.status == "failed" and job.error == job_store.STALE_REASON

    setup.start_worker()
    next_id = setup.submit()
    assert setup.wait_for(next_id, lambda j: j.status in job_store.FINISHED).status == \
        "succeeded"


def test_the_watch_replaces_a_worker_that_stops_answering(setup):
    """A worker frozen mid-job (SIGSTOP: alive, deaf): the watch fails its job with the
    reason, starts a new worker, and the next job runs on it."""
    times = WatchTimes(look_every=0.5, startup=2.0, ping_every=1.0, unanswered_pings=2)
    watched = LocalWorker(setup.settings, setup.session_factory, times)
    try:
        job_id = setup.submit(batch_size=1, delay_per_item=1.0)
        setup.wait_for(job_id, lambda j: j.status == "running")
        frozen = watched.process
        os.killpg(frozen.pid, signal.SIGSTOP)
        job = setup.wait_for(job_id, lambda j: j.status != "running", timeout=60)
        assert job.status == "failed" and "the job worker stopped answering" in job.error
        assert watched.process is not frozen and frozen.poll() is not None
        assert f"#{job_id}" in watched.notice and "a new worker was started" in watched.notice
        next_id = setup.submit()
        assert setup.wait_for(next_id, lambda j: j.status in job_store.FINISHED).status == \
            "succeeded"
    finally:
        watched.stop()
    assert watched.process.poll() is not None


# --- without a worker ----------------------------------------------------------------------

@pytest.fixture
def local(tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,))
    setup = Setup(settings, tmp_path / "images")
    yield setup
    setup.close()


@pytest.mark.parametrize("params, field", [
    ({"batch_size": 0}, "params.batch_size"),
    ({"batch_size": "5"}, "params.batch_size"),
    ({"batch_size": 2.5}, "params.batch_size"),
    ({"batch_size": True}, "params.batch_size"),
    ({"delay_per_item": -1}, "params.delay_per_item"),
    ({"depth": 3}, "params.depth"),
])
def test_invalid_params_are_refused_before_anything_is_queued(local, params, field):
    with pytest.raises(DomainError) as refused:
        with transaction(local.session_factory) as session:
            create_job(session, "dataset_stats", local.dataset_id, params, "tester")
    assert refused.value.field == field
    with local.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
    assert not any((local.settings.broker_dir / "queue").iterdir())


def test_unknown_kind_and_data_set_are_refused(local):
    with local.session_factory() as session:
        with pytest.raises(DomainError) as refused:
            create_job(session, "nope", local.dataset_id, {}, "tester")
        assert refused.value.field == "kind"
        with pytest.raises(DomainError) as refused:
            create_job(session, "dataset_stats", 999, {}, "tester")
        assert (refused.value.field, refused.value.status) == ("dataset_id", 404)


def test_in_process_run_reports_and_a_finished_job_stays_finished(local):
    with transaction(local.session_factory) as session:
        job_id = create_job(session, "dataset_stats", local.dataset_id, {},
                            "tester").id
    assert execute_job(local.session_factory, local.settings.artifacts_dir, job_id) == \
        "succeeded"
    # A re-delivered message must not run the job again.
    assert execute_job(local.session_factory, local.settings.artifacts_dir, job_id) is None
    with transaction(local.session_factory) as session:
        assert not job_store.finish(session, job_id, "failed", error="late")
        job_store.report_progress(session, job_id, 0.1, {"late": True})
    job = local.job(job_id)
    assert job.status == "succeeded" and job.progress == 1.0 and {"late": True} not in job.metrics


def test_a_job_that_ignores_cancel_is_ended_after_the_grace(local):
    with transaction(local.session_factory) as session:
        job_id = create_job(session, "dataset_stats", local.dataset_id, {},
                            "tester").id
        job_store.mark_running(session, job_id, "task-1")
        job_store.request_cancel(session, job_id)
    with transaction(local.session_factory) as session:
        assert enforce_cancel(local.celery, session, grace_seconds=60) == []
    time.sleep(0.2)
    with transaction(local.session_factory) as session:
        assert enforce_cancel(local.celery, session, grace_seconds=0.1) == [job_id]
    assert local.job(job_id).status == "cancelled"


def test_delete_removes_the_row_and_the_artifacts_but_not_a_running_job(local):
    with transaction(local.session_factory) as session:
        job_id = create_job(session, "dataset_stats", local.dataset_id, {},
                            "tester").id
    execute_job(local.session_factory, local.settings.artifacts_dir, job_id)
    folder = Path(local.job(job_id).artifact_dir)
    assert folder.is_dir()
    with transaction(local.session_factory) as session:
        job_store.delete_job(session, job_id)
    assert not folder.exists() and local.session_factory().get(Job, job_id) is None


# --- REST -----------------------------------------------------------------------------------

@pytest.fixture
def client(local):
    from app import create_server

    return create_server(local.settings).test_client()


def _wait_json(client, url: str, condition, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json
        if condition(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} stayed {body}")


def test_rest_runs_a_job_on_a_worker_and_lists_it(local, client):
    local.start_worker()
    answer = client.post("/api/v1/jobs", json={"kind": "dataset_stats",
                                               "dataset_id": local.dataset_id,
                                               "params": {"batch_size": 4}})
    assert answer.status_code == 201, answer.json
    job = answer.json
    assert job["status"] == "queued" and job["params"] == {"batch_size": 4,
                                                           "delay_per_item": 0.0}
    url = f"/api/v1/jobs/{job['id']}"
    done = _wait_json(client, url, lambda j: j["status"] in job_store.FINISHED)
    assert done["status"] == "succeeded" and done["progress"] == 1.0
    assert len(done["metrics"]) == 3 and done["result"]["items"] == N_IMAGES
    assert any("succeeded" in line for line in done["log_tail"])
    listed = client.get(f"/api/v1/jobs?dataset_id={local.dataset_id}&kind=dataset_stats").json
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    assert client.get("/api/v1/jobs?kind=other").json == {"jobs": [], "worker_notice": None}
    assert [j["id"] for j in client.get("/api/v1/jobs?status=succeeded").json["jobs"]] \
        == [job["id"]]
    assert client.get("/api/v1/jobs?status=failed").json["jobs"] == []
    refused = client.get("/api/v1/jobs?status=done")
    assert refused.status_code == 422 and "status" in refused.get_data(as_text=True)
    assert client.delete(url).json == {"job_id": job["id"], "deleted": True}
    assert client.get(url).status_code == 404


def test_rest_cancels_a_queued_job(local, client):
    job = client.post("/api/v1/jobs", json={"kind": "dataset_stats",
                                            "dataset_id": local.dataset_id}).json
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel", json={}).json
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]


@pytest.mark.parametrize("payload, status, field", [
    ({"kind": "dataset_stats", "dataset_id": 1, "params": {"depth": 3}}, 400, "params.depth"),
    ({"kind": "dataset_stats", "dataset_id": 1, "params": {"batch_size": -1}}, 400,
     "params.batch_size"),
    ({"kind": "nope", "dataset_id": 1}, 400, "kind"),
    ({"kind": "dataset_stats", "dataset_id": 999}, 404, "dataset_id"),
    ({"kind": "dataset_stats"}, 400, "dataset_id"),
    ({"dataset_id": 1}, 422, "kind"),
    ({"kind": "dataset_stats", "dataset_id": 1, "params": []}, 422, "params"),
    ({"kind": "dataset_stats", "dataset_id": 1, "prams": {}}, 422, "prams"),
    # about 57,000 GB of activations (a worker reached 4.3 GB in 35 s before it failed)
    ({"kind": "autoencoder_train", "dataset_id": 1, "params": {
        "image_size": [2048, 2048], "base_channels": 256, "batch_size": 512}}, 400,
     "params.batch_size"),
    ({"kind": "classifier_train", "dataset_id": 1, "params": {
        "model": "vgg16_bn", "image_size": 1024, "batch_size": 256}}, 400, "params.batch_size"),
])
def test_rest_refuses_bad_payloads_naming_the_field(local, client, payload, status, field):
    answer = client.post("/api/v1/jobs", json=payload)
    assert answer.status_code == status, answer.json
    assert answer.json["field"] == field and answer.json["error"]
    assert client.get("/api/v1/jobs").json == {"jobs": [], "worker_notice": None}
    assert not any((local.settings.broker_dir / "queue").iterdir())


def test_rest_unknown_job_is_404(client):
    for method, url in (("GET", "/api/v1/jobs/7"), ("POST", "/api/v1/jobs/7/cancel"),
                        ("DELETE", "/api/v1/jobs/7")):
        answer = client.open(url, method=method, content_type="application/json")
        assert (answer.status_code, answer.json["field"]) == (404, "job_id")


def test_a_failed_job_tells_its_reason_and_keeps_the_traceback_in_the_worker_log(
        monkeypatch, caplog):
    """Users read the job's log and error: the reason, never the server's paths and code."""
    from types import SimpleNamespace

    from ml import jobs as ml_jobs

    def run(_context):
        raise ValueError("params.image_size too large for this image")

    monkeypatch.setattr(ml_jobs, "get_kind", lambda _kind: SimpleNamespace(run=run))
    lines: list[str] = []
    context = SimpleNamespace(job_id=7, kind="autoencoder_train", log=lines.append)
    with caplog.at_level("ERROR", logger="ml.jobs"):
        status, result, error = ml_jobs._outcome(context)
    assert (status, result) == ("failed", None)
    assert error == "ValueError: params.image_size too large for this image"
    assert lines == [f"failed: {error}"]
    assert "Traceback" in caplog.text and "job 7" in caplog.text


def test_a_queued_job_whose_message_was_lost_is_sent_again_and_runs(setup):
    job_id = setup.submit()  # no worker yet: the message waits in the broker
    lost_task = setup.job(job_id).celery_task_id
    assert lost_task in broker_task_ids(setup.celery, setup.settings)
    with setup.celery.connection_for_write() as connection:
        for queue in TASK_NAMES:  # the message is gone, as with a worker that died holding it
            connection.default_channel.queue_purge(queue)
    assert lost_task not in broker_task_ids(setup.celery, setup.settings)
    with transaction(setup.session_factory) as session:
        session.get(Job, job_id).created_at -= timedelta(seconds=LOST_AFTER_SECONDS + 1)
    lost_jobs = LostJobs(setup.celery, setup.session_factory, setup.settings, check_every=0)
    assert lost_jobs.check() == []  # once missing: perhaps in a worker's hands right now
    assert lost_jobs.check() == [job_id]  # twice: sent again
    resent_task = setup.job(job_id).celery_task_id
    assert resent_task != lost_task
    assert resent_task in broker_task_ids(setup.celery, setup.settings)
    with transaction(setup.session_factory) as session:  # the old message may not run it
        assert not job_store.mark_running(session, job_id, lost_task)
    setup.start_worker()
    assert setup.wait_for(job_id, lambda j: j.status in job_store.FINISHED).status == "succeeded"
    assert lost_jobs.check() == []
