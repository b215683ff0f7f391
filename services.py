"""The services one running app uses: settings, database sessions, cache, background scans,
and the retrain loop's step after every label write.

One ``Services`` object is built per app by ``app.create_app`` and kept on the Flask app;
request handlers and callbacks reach it with ``current_services()``.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Optional

from celery import Celery
from flask import Flask, current_app
from flask_caching import Cache
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from data.catalog import (check_name_free, free_name, register_dataset, scan_dataset,
                          source_of)
from data.live_ingest import live_dataset_ids, set_live, watch_dataset
from data.replay import check_rate, replay, replay_items
from data.scan_pool import ScanPool
from data.sources.base import DataSource
from data.thumbnail_cache import open_cache
from db import jobs as job_store
from db.models import Dataset, TaggingEvent
from db.session import open_database, transaction
from db.store import get_dataset
from errors import DomainError
from ml import retrain_loop
from ml.job_queue import LostJobs
from ml.jobs import CANCEL_GRACE_SECONDS, STALE_AFTER_SECONDS, enforce_cancel, submit_job
from ml.live_features import extend_attached_features
from ml.similarity import IndexCache
from settings import Settings
from worker import LocalWorker, make_celery

log = logging.getLogger(__name__)
EXTENSION_KEY = "beamlabel"
LABELED_DATASETS = "labeled_datasets"  # Session.info key: data set id -> tagger, until commit
MAX_OPEN_SOURCES = 32
LIVE_STOP_SECONDS = 30  # a watch in the middle of reading headers finishes its batch
LIVE_CHECK_SECONDS = 10.0  # how often a process looks for data sets marked live elsewhere
REPLAYS_DIR = "replays"  # in the data home: the folders replays write into
REPLAY_CHECK_SECONDS = 1.0  # how often a replay looks whether its data set is still live
REPLAY_WATCH_WAIT_SECONDS = 30.0  # the longest a replay waits for its folder's watch


@dataclass
class Services:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    cache: Cache
    # Worker processes reading headers and rendering first thumbnails (data.scan_pool).
    scan_pool: Optional[ScanPool] = None
    _scans: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="scan"))
    # Open sources by data set, so a Tiled connection is made once, not per thumbnail.
    _sources: dict[tuple, DataSource] = field(default_factory=dict)
    _sources_lock: threading.Lock = field(default_factory=threading.Lock)
    _celery: Optional[Celery] = None
    # Normalised feature matrices of the feature jobs ranked lately (ml.similarity).
    feature_indexes: IndexCache = field(default_factory=IndexCache)
    # The watched worker of a local app (worker.LocalWorker); None with outside workers.
    local_worker: Optional[LocalWorker] = None
    _lost_jobs: Optional[LostJobs] = None
    # One watch thread per live data set this process may watch (data.live_ingest: only
    # the lease holder among the server's processes registers arrivals).
    _live_watches: dict[int, tuple[threading.Thread, threading.Event]] = field(
        default_factory=dict)
    _live_lock: threading.Lock = field(default_factory=threading.Lock)
    _live_checker: Optional[tuple[threading.Thread, threading.Event]] = None
    # Replays writing into a live data set's folder (data.replay), by that data set's id.
    _replays: dict[int, tuple[threading.Thread, threading.Event]] = field(default_factory=dict)
    watcher_name: str = field(default_factory=lambda: (
        f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"))

    def celery(self) -> Celery:
        """The Celery client that queues jobs (made on first use)."""
        if self._celery is None:
            self._celery = make_celery(self.settings)
        return self._celery

    def check_jobs(self) -> None:
        """Fail jobs whose worker died; end those that ignored a cancel past the grace; send
        again queued jobs whose message was lost (a local worker's watch does that)."""
        with transaction(self.session_factory) as session:
            job_store.fail_stale_jobs(session, STALE_AFTER_SECONDS)
            if job_store.overdue_cancels(session, CANCEL_GRACE_SECONDS):
                enforce_cancel(self.celery(), session, CANCEL_GRACE_SECONDS,
                               self.local_worker.end_jobs if self.local_worker else None)
        if self.local_worker is None:
            if self._lost_jobs is None:
                self._lost_jobs = LostJobs(self.celery(), self.session_factory, self.settings)
            self._lost_jobs.check()

    def worker_notice(self) -> Optional[str]:
        """What the local worker's watch last did (restarted it, gave up), if anything."""
        return self.local_worker.notice if self.local_worker is not None else None

    def step_retrain_loop(self, dataset_id: int, owner: str, now: bool = False) -> Optional[int]:
        """One step of the data set's retrain loop (``ml.retrain_loop.step``): the job queued."""
        return retrain_loop.step(self.celery(), self.session_factory, dataset_id, owner, now,
                                 self.settings.file_roots)

    def step_retrain_loops_after_label_writes(self) -> None:
        """After every commit that wrote tagging events, whichever page or route wrote them,
        step the loops of their data sets."""
        @event.listens_for(self.session_factory, "after_flush")
        def note_events(session: Session, _context) -> None:
            for written in session.new:
                if isinstance(written, TaggingEvent):
                    session.info.setdefault(LABELED_DATASETS, {})[written.dataset_id] = \
                        written.tagger

        @event.listens_for(self.session_factory, "after_rollback")
        def forget_events(session: Session) -> None:
            session.info.pop(LABELED_DATASETS, None)

        @event.listens_for(self.session_factory, "after_commit")
        def step_loops(session: Session) -> None:
            for dataset_id, tagger in session.info.pop(LABELED_DATASETS, {}).items():
                try:
                    self.step_retrain_loop(dataset_id, tagger)
                except Exception:  # the labels are saved; this must not make their write fail
                    log.exception("retrain loop step of data set %s failed", dataset_id)

    def source(self, dataset: Dataset) -> DataSource:
        key = (dataset.id, dataset.source_kind, dataset.location, dataset.api_key)
        with self._sources_lock:
            if key not in self._sources:
                if len(self._sources) >= MAX_OPEN_SOURCES:
                    self._sources.pop(next(iter(self._sources)))
                self._sources[key] = source_of(dataset)
            return self._sources[key]

    def start_scan(self, dataset_id: int) -> Future:
        """Read the headers of a data set's files in the background (and render their
        first thumbnails)."""
        future = self._scans.submit(scan_dataset, self.session_factory, dataset_id,
                                    self.scan_pool)
        future.add_done_callback(_log_failure)
        return future

    def resume_scans(self) -> None:
        """Finish scans a previous run left half done."""
        with self.session_factory() as session:
            ids = session.scalars(select(Dataset.id).where(Dataset.status == "scanning")).all()
        for dataset_id in ids:
            self.start_scan(dataset_id)

    def mark_live(self, dataset_id: int, live: bool) -> str:
        """Mark a data set live or not and start or stop watching it; returns its name
        (DomainError 404 when there is no such data set)."""
        with transaction(self.session_factory) as session:
            name = set_live(session, dataset_id, live).name
        if live:
            self.watch_live(dataset_id)
        else:
            self.unwatch_live(dataset_id)
        return name

    def watch_live(self, dataset_id: int, watching: Optional[threading.Event] = None) -> None:
        """Start watching a live data set (once; again if its watch ended); ``watching`` is
        set when the watcher runs."""
        with self._live_lock:
            running = self._live_watches.get(dataset_id)
            if running is not None and running[0].is_alive() and not running[1].is_set():
                return
            stop = threading.Event()
            thread = threading.Thread(
                target=watch_dataset, name=f"live-{dataset_id}", daemon=True,
                args=(self.session_factory, dataset_id, self.watcher_name, stop),
                kwargs={"on_arrivals": partial(self.run_attached_models, dataset_id),
                        "ready_for_arrivals": partial(self.no_arrivals_queued, dataset_id),
                        "watching": watching})
            self._live_watches[dataset_id] = (thread, stop)
            thread.start()

    def run_attached_models(self, dataset_id: int, item_ids: list[int]) -> None:
        """Queue the data set's attached feature jobs on newly arrived items (small
        live_features jobs), so suggestions and similarity include them at once."""
        extend_attached_features(
            self.session_factory, dataset_id, item_ids,
            submit=partial(submit_job, self.celery(), self.session_factory))

    def start_replay(self, dataset_id: int, rate: float, name: Optional[str] = None) -> int:
        """Replay a data set as a new live one: its readable frames are written, in arrival
        order at ``rate`` images per second, into a new folder under the data home that the
        new data set watches, so they take the path of a running experiment's images.
        Returns the new data set's id; the replay stops early when it is no longer live."""
        try:
            rate = check_rate(rate)
        except ValueError as error:
            raise DomainError(str(error), "rate") from error
        with self.session_factory() as session:
            original = get_dataset(session, dataset_id)
            items, originals = replay_items(session, original)
            if not items:
                raise DomainError(f"data set {dataset_id} has no readable images to replay",
                                  "dataset_id")
            name = (name or "").strip() or free_name(session, f"{original.name} (replay)")
            check_name_free(session, name)
            source = self.source(original)
        folder = self.settings.home / REPLAYS_DIR / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        try:
            replayed = register_dataset(self.session_factory, self.settings.file_roots, name,
                                        "directory", str(folder), live=True).id
        except BaseException:
            folder.rmdir()  # still empty: nothing was written into it
            raise
        watching, stop = threading.Event(), threading.Event()
        self.watch_live(replayed, watching)

        looked = [time.monotonic()]

        def should_stop() -> bool:
            if stop.is_set():
                return True
            if time.monotonic() - looked[0] < REPLAY_CHECK_SECONDS:
                return False
            looked[0] = time.monotonic()
            with self.session_factory() as session:
                dataset = session.get(Dataset, replayed)
                return dataset is None or not dataset.live

        def replay_once_watched() -> None:
            # Written before the watcher runs, a file would be found by its first walk and
            # could be registered after later ones that arrive by their events.
            watching.wait(REPLAY_WATCH_WAIT_SECONDS)
            try:
                replay(source, items, folder, rate, should_stop=should_stop,
                       original_of=lambda item: originals.get(item.path) if item.frame == 0
                       else None)
            except Exception:  # noqa: BLE001 - e.g. the data home's disk is full
                log.exception("the replay into data set %s stopped", replayed)

        thread = threading.Thread(target=replay_once_watched, name=f"replay-{replayed}",
                                  daemon=True)
        with self._live_lock:
            self._replays = {dataset: running for dataset, running in self._replays.items()
                             if running[0].is_alive()}
            self._replays[replayed] = (thread, stop)
        thread.start()
        return replayed

    def no_arrivals_queued(self, dataset_id: int) -> bool:
        """Whether no live_features job of the data set waits for the worker: until then the
        watch gathers arrivals into the next job (one job's start costs more than a few
        more images in it, so a busy worker gets fewer, larger jobs)."""
        with self.session_factory() as session:
            return not job_store.list_jobs(session, dataset_id, "live_features",
                                           statuses=["queued"], limit=1)

    def unwatch_live(self, dataset_id: int) -> None:
        with self._live_lock:
            running = self._live_watches.pop(dataset_id, None)
        if running is not None:
            running[1].set()

    def resume_live_watches(self) -> None:
        """Watch the data sets marked live, now (at the app's start) and every
        LIVE_CHECK_SECONDS: another process of the server may have marked one, and each
        process keeps a watch waiting to take over when the lease holder stops."""
        with self._live_lock:
            if self._live_checker is not None:
                return
            stop = threading.Event()
            thread = threading.Thread(target=self._check_live_datasets, args=(stop,),
                                      name="live-check", daemon=True)
            self._live_checker = (thread, stop)
            thread.start()

    def _check_live_datasets(self, stop: threading.Event) -> None:
        while True:
            try:
                with self.session_factory() as session:
                    ids = live_dataset_ids(session)
                for dataset_id in ids:
                    self.watch_live(dataset_id)
            except Exception:  # noqa: BLE001 - the next check may find the database again
                log.exception("cannot look for live data sets")
            if stop.wait(LIVE_CHECK_SECONDS):
                return

    def stop_live_watches(self) -> None:
        """Stop every watch and wait for them (their leases are given back)."""
        with self._live_lock:
            checker, self._live_checker = self._live_checker, None
        if checker is not None:
            checker[1].set()
            checker[0].join(timeout=LIVE_STOP_SECONDS)
        with self._live_lock:
            running = [*self._live_watches.values(), *self._replays.values()]
            self._live_watches, self._replays = {}, {}
        for _thread, stop in running:
            stop.set()
        for thread, _stop in running:
            thread.join(timeout=LIVE_STOP_SECONDS)


def _log_failure(future: Future) -> None:
    if future.exception() is not None:
        log.error("header scan failed", exc_info=future.exception())


def build_services(settings: Settings, server: Flask) -> Services:
    engine, session_factory = open_database(settings)
    cache = open_cache(settings.cache_url, server)
    services = Services(settings, engine, session_factory, cache,
                        ScanPool(settings.scan_workers, settings.cache_url))
    services.step_retrain_loops_after_label_writes()
    server.extensions[EXTENSION_KEY] = services
    return services


def current_services() -> Services:
    return current_app.extensions[EXTENSION_KEY]
