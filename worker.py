"""The Celery app of beamlabel: ``celery -A worker worker -Q gpu -c 1`` (and ``-Q cpu``).

Locally the broker is kombu's ``filesystem://`` transport under ``$BEAMLABEL_HOME/broker``
(it supports revoke and ping, unlike the sqla transport) and ``beamlabel`` starts one
worker itself; on a shared server the broker is Redis. Job state lives in the database's
``jobs`` table, not in a Celery result backend.
"""
from __future__ import annotations

from celery import Celery

from settings import Settings, load_settings

# Above the longest job: Redis re-delivers an unacknowledged task after this long.
VISIBILITY_TIMEOUT_SECONDS = 48 * 3600
GPU_QUEUE, CPU_QUEUE = "gpu", "cpu"


def broker_options(settings: Settings) -> dict:
    if not settings.uses_local_broker:
        return {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    folder = settings.broker_dir
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"), "store_processed": False,
            "control_folder": str(folder / "control")}


def make_celery(settings: Settings) -> Celery:
    app = Celery("beamlabel", broker=settings.broker_url, include=["ml.tasks"])
    app.conf.update(
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        # One job per child process: GPU memory and big arrays are freed after every job.
        worker_max_tasks_per_child=1,
        task_default_queue=CPU_QUEUE,
        task_routes={"beamlabel.gpu_job": {"queue": GPU_QUEUE},
                     "beamlabel.cpu_job": {"queue": CPU_QUEUE}},
        worker_hijack_root_logger=False,
    )
    app.conf.beamlabel_settings = settings
    return app


app = make_celery(load_settings())
