"""Celery for beamlabel: the app, its two tasks, and the local worker process.

``celery -A worker worker -Q gpu -c 1`` (and ``-Q cpu``) runs a worker. Its Celery app is
built on first use from the settings in the environment (``worker.app``), never at import;
the web process builds its own client from its Settings with :func:`make_celery`. Locally
the broker is kombu's ``filesystem://`` transport under ``$BEAMLABEL_HOME/broker`` (it
supports revoke and ping, unlike the sqla transport) and ``beamlabel`` starts one worker
itself (:func:`start_worker`); on a shared server the broker is Redis. Job state lives in
the database's ``jobs`` table, not in a Celery result backend.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from functools import cache
from pathlib import Path

from celery import Celery

from db.session import open_database
from ml.jobs import TASK_NAMES, execute_job
from ml.retrain_loop import step_after_job
from settings import Settings, load_settings, settings_environment

# Above the longest job: Redis re-delivers an unacknowledged task after this long.
VISIBILITY_TIMEOUT_SECONDS = 48 * 3600
GPU_QUEUE, CPU_QUEUE = "gpu", "cpu"
ROOT = Path(__file__).resolve().parent
STOP_TIMEOUT_SECONDS = 10.0


def broker_options(settings: Settings) -> dict:
    if not settings.uses_local_broker:
        return {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    folder = settings.broker_dir
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"), "store_processed": False,
            "control_folder": str(folder / "control")}


def run_job(task, job_id: int):
    """Both tasks: run one job with the database of the worker's settings, then let a retrain
    loop that started it move on (its inference follows its training at once, page or not).
    With one task per child process the engine lives exactly as long as the job."""
    settings = task.app.conf.beamlabel_settings
    engine, session_factory = open_database(settings)
    try:
        status = execute_job(session_factory, settings.artifacts_dir, job_id, task.request.id)
        if status is not None:
            step_after_job(task.app, session_factory, job_id, settings.file_roots)
        return status
    finally:
        engine.dispose()


def make_celery(settings: Settings) -> Celery:
    app = Celery("beamlabel", broker=settings.broker_url)
    app.conf.update(
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        # One job per child process: GPU memory and big arrays are freed after every job.
        worker_max_tasks_per_child=1,
        task_default_queue=CPU_QUEUE,
        task_routes={name: {"queue": queue} for queue, name in TASK_NAMES.items()},
        worker_hijack_root_logger=False,
    )
    app.conf.beamlabel_settings = settings
    for name in TASK_NAMES.values():
        app.task(name=name, bind=True)(run_job)
    return app


@cache
def worker_app() -> Celery:
    """The app of a ``celery -A worker worker`` process, from the environment's settings."""
    return make_celery(load_settings())


def __getattr__(name: str):
    # `celery -A worker` looks up `worker.app`: build it then, not when the module is imported.
    if name == "app":
        return worker_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the one worker process of a local `beamlabel` ---------------------------------------------

def worker_command(queues: str = f"{GPU_QUEUE},{CPU_QUEUE}") -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", queues, "-c", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"]


def start_worker(settings: Settings, **popen_options) -> subprocess.Popen:
    """One worker for both queues, in its own process group (so stopping it ends its pool)."""
    env = dict(os.environ, **settings_environment(settings))
    return subprocess.Popen(worker_command(), cwd=ROOT, env=env, start_new_session=True,
                            **popen_options)


def stop_worker(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """Ask the worker to stop, then kill its whole process group if it does not."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    _signal_group(process, signal.SIGKILL)  # pool children left behind, if any
    process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
