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

import gc
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from queue import Empty
from typing import Optional

from celery import Celery, signals
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads
from sqlalchemy import select

from db.jobs import fail_stale_jobs
from db.models import Job
from db.session import open_database, transaction
from ml.job_queue import INSPECT_TIMEOUT_SECONDS, LostJobs
from ml.jobs import TASK_NAMES, execute_job, submit_job
from ml.live_features import (KIND as LIVE_KIND, prune_finished_batches, send_unsent_batches,
                              take_queued_batches)
from ml.retrain_loop import step_after_job
from settings import Settings, load_settings, settings_environment

# Above the longest job: Redis re-delivers an unacknowledged task after this long.
VISIBILITY_TIMEOUT_SECONDS = 48 * 3600
GPU_QUEUE, CPU_QUEUE = "gpu", "cpu"
ROOT = Path(__file__).resolve().parent
STOP_TIMEOUT_SECONDS = 10.0
# How often the worker lists the local broker's queue folder (kombu's default: 1 s, which
# an arriving live image's small job would wait half of on average); a listing is cheap.
LOCAL_BROKER_POLL_SECONDS = 0.1
WORKER_LOG = "worker.log"  # in the data home
# What the job kinds import when they first run (ml/ imports them lazily, so that the web
# process stays light). Every job runs in a new pool process, so a worker imports them
# once, before its pool forks: a live batch of nine images then runs in 0.15 s instead of
# 1.3 s, 1.1 s of which was importing scipy.ndimage again, and a training job starts
# without seconds of importing torch.
PRELOADED_MODULES = ("scipy.ndimage", "scipy.special", "scipy.stats", "torch", "timm")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchTimes:
    """The local worker's watch: how often it looks, how long a new worker may take to
    start answering, when it counts as deaf, and when it gives up restarting one."""

    look_every: float = 2.0
    startup: float = 30.0
    ping_every: float = 30.0
    ping_timeout: float = 5.0  # generous: a worker whose job keeps every core busy is slow
    unanswered_pings: int = 3
    max_restarts: int = 5
    restart_window: float = 600.0


class _WholeMessageChannel(filesystem.Channel):
    """kombu's filesystem channel, but a message file appears in the queue folder whole.
    kombu writes it in place, so a worker listing the folder in between takes it empty
    (kombu issue 1551): the worker's main process died with a JSONDecodeError and the
    message was lost (once in a bench_live run of 2,000 live batches)."""

    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        staging = os.path.join(self.data_folder_out, f".{name}.part")  # no queue's name
        try:
            with open(staging, "wb") as handle:
                handle.write(dumps(payload).encode())
            os.replace(staging, final)
        except OSError as error:
            raise ChannelError(f"Cannot add file {final!r} to directory") from error

    def _get(self, queue):
        """The oldest message of `queue`. kombu moves a message it takes into the system's
        temporary folder to read it, where other users can read the job it names and a
        clean-up may remove it first; here it goes into the broker's own processed folder."""
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            taken = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except OSError:  # another consumer took it first
                continue
            try:
                with open(taken, "rb") as handle:
                    payload = handle.read()
                os.remove(taken)
            except OSError as error:
                raise ChannelError(f"Cannot read file {taken!r} from queue.") from error
            return loads(payload)
        raise Empty()


class WholeMessageTransport(filesystem.Transport):
    Channel = _WholeMessageChannel


def broker_options(settings: Settings) -> dict:
    if not settings.uses_local_broker:
        return {"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS}
    folder = settings.broker_dir
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(folder / "queue"), "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"), "store_processed": False,
            "control_folder": str(folder / "control"),
            "polling_interval": LOCAL_BROKER_POLL_SECONDS}


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
            if _kind_of(session_factory, job_id) == LIVE_KIND:
                prune_finished_batches(session_factory)
                take_queued_batches(session_factory, settings.artifacts_dir,
                                    set(task.app.amqp.queues.consume_from),
                                    partial(submit_job, task.app, session_factory))
        return status
    finally:
        engine.dispose()


def _kind_of(session_factory, job_id: int) -> Optional[str]:
    with session_factory() as session:
        return session.scalar(select(Job.kind).where(Job.id == job_id))


def make_celery(settings: Settings) -> Celery:
    app = Celery("beamlabel", broker=settings.broker_url)
    app.conf.update(
        broker_transport_options=broker_options(settings),
        broker_transport=WholeMessageTransport if settings.uses_local_broker else None,
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


@signals.worker_init.connect
def preload_job_modules(**_) -> None:
    """In a worker's main process, before its pool starts: import what jobs will need."""
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as error:  # the job that needs it will say so
            log.warning("could not import %s ahead of the jobs: %s", name, error)
    # Children then leave the inherited objects to the garbage collector's permanent
    # generation: a collection in a child would otherwise copy every page they lie on.
    gc.freeze()


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


class LocalWorker:
    """The one worker of a local ``beamlabel`` (its output in $BEAMLABEL_HOME/worker.log),
    kept working: a thread notices when it has died or stopped answering (or its pool hangs
    on a job), fails the job it was running with the reason, starts a new one, and sends
    again queued jobs whose message went with it (``ml.job_queue``). ``notice`` says what
    happened, for the jobs panel."""

    def __init__(self, settings: Settings, session_factory, times: WatchTimes = WatchTimes()):
        self.settings, self.session_factory, self.times = settings, session_factory, times
        self.celery_app = make_celery(settings)
        self.lost_jobs = LostJobs(self.celery_app, session_factory, settings)
        self.notice: Optional[str] = None
        self.restarts: list[float] = []  # monotonic times
        self.unanswered_pings = 0
        self._last_ping = float("-inf")
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # the watch and a forced cancel both replace the worker
        self.process = self._start()
        self._started = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)
        self._watcher.start()

    def _start(self) -> subprocess.Popen:
        with open(self.settings.home / WORKER_LOG, "a") as output:  # the child keeps it open
            return start_worker(self.settings, stdout=output, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self._stopping.set()
        self._watcher.join(timeout=self.times.look_every + self.times.ping_timeout
                           + INSPECT_TIMEOUT_SECONDS * 2)
        stop_worker(self.process)

    def _watch(self) -> None:
        while not self._stopping.wait(self.times.look_every):
            try:
                self._look()
            except Exception:  # the watcher must outlive a database or broker hiccup
                log.exception("watching the local worker failed")

    def _look(self) -> None:
        seen = self.process
        code = seen.poll()
        if code is not None:
            return self._replace(seen, f"the job worker stopped (exit code {code})")
        if time.monotonic() - self._started < self.times.startup:
            return None
        if time.monotonic() - self._last_ping >= self.times.ping_every:
            self._last_ping = time.monotonic()
            answered = self.celery_app.control.ping(timeout=self.times.ping_timeout)
            self.unanswered_pings = 0 if answered else self.unanswered_pings + 1
            if self.unanswered_pings >= self.times.unanswered_pings:
                return self._replace(seen, "the job worker stopped answering")
        self.lost_jobs.check()
        if self.lost_jobs.held_by_hung_pool:
            return self._replace(seen, "the job worker held a queued job without running it")
        return None

    def _replace(self, seen: subprocess.Popen, what: str) -> None:
        """The worker ``seen`` died or went deaf: the job it ran fails with ``what``."""
        with self._lock:
            if self.process is not seen:
                return  # a forced cancel replaced it meanwhile
            stop_worker(self.process, timeout=0)  # dead or deaf: no time to finish anything
            with transaction(self.session_factory) as session:
                failed = fail_stale_jobs(session, reason=f"{what} while running this job; "
                                                         "start it again")
            jobs = f"; job {', '.join(f'#{i}' for i in failed)} failed with it" if failed \
                else ""
            self._restart(f"{what.capitalize()} at {datetime.now():%H:%M}{jobs}")
            # live batches it would have taken itself: sent now, not when found lost
            send_unsent_batches(self.session_factory,
                                partial(submit_job, self.celery_app, self.session_factory))

    def end_jobs(self, job_ids: list[int]) -> None:
        """End running jobs that ignored their cancel by ending the whole worker: a new
        pool process after a task's termination sometimes never starts the next task (a
        known Celery stall with one task per child), a new worker always does. The caller
        marks the jobs cancelled."""
        with self._lock:
            stop_worker(self.process, timeout=0)
            jobs = ", ".join(f"#{i}" for i in job_ids)
            self._restart(f"Job {jobs} did not stop when cancelled and was ended with its "
                          f"worker at {datetime.now():%H:%M}", counts=False)

    def _restart(self, what: str, counts: bool = True) -> None:
        now = time.monotonic()
        window = self.times.restart_window
        self.restarts = [t for t in self.restarts if now - t < window]
        if counts and len(self.restarts) >= self.times.max_restarts:
            self.notice = (f"{what}. The worker stopped {self.times.max_restarts + 1} times in "
                           f"{window / 60:g} minutes, so no new one was started: see "
                           f"{WORKER_LOG} in the data home, then restart beamlabel.")
            log.error(self.notice)
            self._stopping.set()
            return
        if counts:
            self.restarts.append(now)
        self.process = self._start()
        self._started, self.unanswered_pings, self._last_ping = now, 0, float("-inf")
        self.lost_jobs.suspects = set()
        self.notice = f"{what}; a new worker was started and takes the queued jobs."
        log.warning(self.notice)
