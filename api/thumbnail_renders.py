"""The thumbnail route's renders of folder items, in worker processes.

Rendered in the web process's threads, a page of 48 thumbnails queues behind one GIL; here
a few worker processes render them, each keeping what it renders in the thumbnail cache
(``data.render_workers``) and sending the bytes back to the request that waits.
A render is asked once per cache key: the label page's items callback starts the renders
of its page (``prefetch``) and the route's requests for those tiles wait on them.

Bounded: at most MAX_IN_FLIGHT renders queued or running; past that, and while the
workers start, the route renders in its own thread as it always did. The workers fork
from a forkserver that imported their modules once, so a pool that ended when idle is
back in milliseconds, not the seconds of a fresh interpreter's imports.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Optional

from flask import Flask

from data.render_workers import WORKER_MODULES, render_and_keep, start_worker, started
from data.sources.base import DataSource
from data.thumbnail_cache import ThumbnailWriter
from data.thumbnails import Thumbnail
from data.worker_processes import at_exit_before_pools, end_pool, worker_context

log = logging.getLogger(__name__)
EXTENSION_KEY = "beamlabel_thumbnail_renders"
MAX_WORKERS = 4
THREADS = 2  # render threads of the web process, while the workers start
MAX_IN_FLIGHT = 192  # renders queued or running: four pages of tiles
WAIT_SECONDS = 60.0  # the longest a request waits for its render
START_SECONDS = 120.0  # the longest the workers may take to answer once started
RETRY_SECONDS = 60.0  # after a failed start, the next try waits this long
IDLE_SECONDS = 600.0  # workers without a render this long end (and come back when asked)
CLOSE_SECONDS = 5.0  # on close, the longest the running renders may take to finish
# Renders done keep their bytes here (up to this many) for the requests that come just
# after: a page's tiles are mostly rendered before the browser asks for them, and a read
# of the file-per-thumbnail cache this app had cost 0.4 ms of the web process's time a tile.
RECENT_BYTES = 16 * 2**20


class RendersBusy(RuntimeError):
    """A render waited longer than WAIT_SECONDS."""


class ThumbnailRenders:
    """Worker processes rendering thumbnails of folder items, one render per cache key at
    a time. Started by ``start`` (in the background) or by the first render asked;
    until they answer, ``submit`` returns None and the caller renders itself."""

    def __init__(self, workers: int, cache_url: str):
        self.workers = max(1, min(workers, MAX_WORKERS))
        self.cache_url = cache_url
        # What the web process renders itself (workers not running, not a folder) is kept
        # through this.
        self.kept = ThumbnailWriter(cache_url)
        self._threads: Optional[ThreadPoolExecutor] = None
        self._lock = threading.Lock()
        self._executor: Optional[ProcessPoolExecutor] = None  # set once its workers answer
        self._starting: Optional[ProcessPoolExecutor] = None  # the one starting, if any
        self._next_start = 0.0
        self._closed = False
        self._in_flight: dict[str, Future] = {}
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._recent_bytes = 0
        self._idle_timer: Optional[threading.Timer] = None

    @property
    def ready(self) -> bool:
        return self._executor is not None

    def start(self) -> None:
        """Start the workers in the background, unless started or starting."""
        with self._lock:
            if self._executor is not None or self._starting is not None or self._closed \
                    or time.monotonic() < self._next_start:
                return
            executor = self._starting = ProcessPoolExecutor(
                self.workers, mp_context=worker_context(WORKER_MODULES), initializer=start_worker,
                initargs=(self.cache_url,))
        threading.Thread(target=self._boot, args=(executor,), name="thumbnail-renders",
                         daemon=True).start()

    def _boot(self, executor: ProcessPoolExecutor) -> None:
        try:
            answers = [executor.submit(started) for _ in range(self.workers)]
            for answer in answers:
                answer.result(timeout=START_SECONDS)
        except Exception:  # noqa: BLE001 - the route renders in its threads meanwhile
            if not self._closed:
                log.exception("thumbnail render workers did not start; rendering in the web "
                              "process, trying again in %.0f s", RETRY_SECONDS)
            executor.shutdown(wait=False, cancel_futures=True)
            executor = None
        with self._lock:
            self._starting = None
            if executor is None:
                self._next_start = time.monotonic() + RETRY_SECONDS
            elif self._closed:
                executor.shutdown(wait=False)
            else:
                self._executor = executor
                self._arm_idle_timer()

    def in_flight(self, key: str) -> Optional[Future]:
        with self._lock:
            return self._in_flight.get(key)

    def recent(self, key: str) -> Optional[bytes]:
        """The bytes of a render of ``key`` done lately, or None."""
        with self._lock:
            return self._recent.get(key)

    def submit(self, source: DataSource, key: str, path: str, frame: int,
               thumbnail: Thumbnail) -> Optional[Future]:
        """The render of ``key`` (the one in flight, or a new one), or None where the caller
        renders itself: a source that is not a folder, or MAX_IN_FLIGHT renders already
        waiting. Until the workers run (they are started here if need be), the render
        runs in one of the web process's THREADS."""
        if source.kind != "directory":
            return None
        with self._lock:
            future = self._in_flight.get(key)
            if future is not None:
                return future
            if len(self._in_flight) >= MAX_IN_FLIGHT or self._closed:
                return None
            future = self._submit(source, key, path, frame, thumbnail)
            self._in_flight[key] = future
            self._cancel_idle_timer()
            start = self._executor is None
        if start:
            self.start()
        future.add_done_callback(partial(self._done, key))
        return future

    def _submit(self, source: DataSource, key: str, path: str, frame: int,
                thumbnail: Thumbnail) -> Future:
        if self._executor is not None:
            try:
                return self._executor.submit(render_and_keep, source.location, path, frame,
                                             thumbnail, key)
            except (BrokenProcessPool, RuntimeError):  # a worker died: render here
                self._executor.shutdown(wait=False)
                self._executor = None
        if self._threads is None:
            self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="thumbnail")
        return self._threads.submit(self._render_here, source, key, path, frame, thumbnail)

    def _render_here(self, source: DataSource, key: str, path: str, frame: int,
                     thumbnail: Thumbnail) -> bytes:
        body = thumbnail.render(source, path, frame)
        self.kept.set(key, body)
        return body

    def result(self, future: Future) -> Optional[bytes]:
        """The bytes of a render; None when its worker died (the caller renders itself).
        The render's own errors (UnreadableImage, SourceError) are raised."""
        try:
            return future.result(timeout=WAIT_SECONDS)
        except BrokenProcessPool:
            return None
        except TimeoutError as error:
            raise RendersBusy(f"the thumbnail took more than {WAIT_SECONDS:.0f} s to render; "
                              "the server is busy, try again") from error

    def _done(self, key: str, future: Future) -> None:
        error = None if future.cancelled() else future.exception()
        broken = isinstance(error, BrokenProcessPool)
        with self._lock:
            if self._in_flight.get(key) is future:
                del self._in_flight[key]
            if not future.cancelled() and error is None:
                self._keep_recent(key, future.result())
            executor = self._executor if broken else None
            if broken:  # fresh workers are started by the next render asked
                self._executor = None
            if not self._in_flight and self._executor is not None:
                self._arm_idle_timer()
        if executor is not None:
            executor.shutdown(wait=False)

    def _keep_recent(self, key: str, body: bytes) -> None:
        if key in self._recent:
            self._recent_bytes -= len(self._recent.pop(key))
        self._recent[key] = body
        self._recent_bytes += len(body)
        while self._recent_bytes > RECENT_BYTES:
            self._recent_bytes -= len(self._recent.popitem(last=False)[1])

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        self._idle_timer = threading.Timer(IDLE_SECONDS, self._end_if_idle)
        self._idle_timer.daemon = True
        self._idle_timer.start()

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _end_if_idle(self) -> None:
        with self._lock:
            if self._in_flight or self._executor is None:
                return
            executor, self._executor = self._executor, None
        executor.shutdown(wait=False)

    def close(self) -> None:
        """End the workers (the renders they run finish; the queued ones are cancelled)."""
        with self._lock:
            self._closed = True
            self._cancel_idle_timer()
            executor, self._executor = self._executor, None
            starting = self._starting  # its workers end once they have started
        for pool in (executor, starting):
            if pool is not None:
                end_pool(pool, CLOSE_SECONDS)
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)


def renders_of(server: Flask) -> ThumbnailRenders:
    """The app's renders (made, not started, on first use)."""
    renders = server.extensions.get(EXTENSION_KEY)
    if renders is None:
        services = server.extensions["beamlabel"]
        made = ThumbnailRenders(services.settings.scan_workers, services.settings.cache_url)
        renders = server.extensions.setdefault(EXTENSION_KEY, made)
        if renders is made:
            at_exit_before_pools(renders.close)
    return renders


def start_renders(server: Flask) -> None:
    """Start the app's render workers now, so that its first page does not wait for them
    (the launcher does, before serving)."""
    renders_of(server).start()
