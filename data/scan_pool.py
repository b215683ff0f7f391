"""Reading the files of a header scan: one visit to each file reads its header and, where a
thumbnail cache is given, renders the default thumbnail into that cache, so the pages that
show the file first never read it again.

``read_files`` does it in the calling process; a ``ScanPool`` spreads it over worker
processes that run at a lower priority (the pages being served keep the cores they need)
and keeps at most a few chunks of files in flight. The workers write the thumbnails into
the cache themselves, opened from the same URL as the web app's, so the bytes never pass
through the web process.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Optional, Sequence

from data.sources import SourceError, UnreadableImage, open_source
from data.sources.base import DataSource, ImageInfo, OpenedImage
from data.thumbnail_cache import ThumbnailWriter
from data.thumbnails import DEFAULT_THUMBNAIL, Thumbnail
from data.worker_processes import end_pool, end_with_parent, worker_context

log = logging.getLogger(__name__)
NICENESS = 10  # added to the workers' nice value: they yield the cores to the web server
CHUNK_FILES = 32  # files per task sent to a worker
CHUNKS_PER_WORKER = 2  # chunks in flight per worker: one being read, one waiting
IDLE_SECONDS = 30.0  # a pool unused this long ends its worker processes
CLOSE_SECONDS = 10.0  # on close, the longest the chunks being read may take to finish
# What a worker imports: once, in the forkserver it is forked from (data.worker_processes).
WORKER_MODULES = ("numpy", "PIL.PngImagePlugin", "tifffile", "data.sources.directory", __name__)


@dataclass(frozen=True)
class FileResult:
    """What reading one file found: its header, or why it is unreadable. ``problem`` with a
    header means the header was fine but the image data were not (its thumbnail failed)."""

    item_id: int
    info: Optional[ImageInfo]
    problem: Optional[str] = None


def read_files(source: DataSource, files: Sequence[tuple[int, str]],
               thumbnail: Optional[Thumbnail] = None,
               cache: Optional[ThumbnailWriter] = None) -> list[FileResult]:
    """The header of each (item id, path) file; with a ``cache``, also the ``thumbnail`` of
    its first frame, kept there under the key the thumbnail route looks up. Each file is
    opened once for both; the thumbnails are stored together at the end."""
    results, rendered = [], {}
    for item_id, path in files:
        try:
            with source.open_file(path) as image:
                info = image.info()
                problem = None if cache is None else _render_ahead(
                    image, path, thumbnail, thumbnail.cache_key(item_id), rendered)
        except (UnreadableImage, SourceError) as error:
            results.append(FileResult(item_id, None, str(error)))
            continue
        results.append(FileResult(item_id, info, problem))
    if cache is not None:
        cache.set_many(rendered)
    return results


def _render_ahead(image: OpenedImage, path: str, thumbnail: Thumbnail, key: str,
                  rendered: dict[str, bytes]) -> Optional[str]:
    """Render ``thumbnail`` of the opened file into ``rendered``; what is wrong with the
    file's image data, if anything. No error gets out: a thumbnail is never the reason
    to stop a scan."""
    try:
        rendered[key] = thumbnail.render_opened(image)
    except UnreadableImage as error:
        return str(error)
    except SourceError as error:  # the source is away: the route renders it later
        log.warning("no thumbnail for %s: %s", path, error)
    except Exception:  # noqa: BLE001 - a renderer's fault must not stop the scan
        log.exception("no thumbnail for %s", path)
    return None


# -- worker processes --------------------------------------------------------------------------

_thumbnails: Optional[ThumbnailWriter] = None  # a worker process's, made at its start


def _start_worker(cache_url: str) -> None:
    global _thumbnails
    end_with_parent()
    os.nice(NICENESS)
    _thumbnails = ThumbnailWriter(cache_url)


def _read_in_worker(source_kind: str, location: str, files: Sequence[tuple[int, str]],
                    thumbnail: Thumbnail) -> list[FileResult]:
    cache = _thumbnails if _thumbnails.has_room() else None
    return read_files(open_source(source_kind, location), files, thumbnail, cache)


class ScanPool:
    """Worker processes that read local files for header scans and render their default
    thumbnail into the cache at ``cache_url``. Started on first use; they end after
    IDLE_SECONDS without work (and start again when needed)."""

    def __init__(self, workers: int, cache_url: str, thumbnail: Thumbnail = DEFAULT_THUMBNAIL):
        self.workers = max(1, workers)
        self.cache_url = cache_url
        self.thumbnail = thumbnail
        self._lock = threading.Lock()
        self._executor: Optional[ProcessPoolExecutor] = None
        self._users = 0
        self._idle_timer: Optional[threading.Timer] = None

    def read(self, source: DataSource, files: Sequence[tuple[int, str]]) -> list[FileResult]:
        """``read_files`` of a folder's files, in the workers (in order); other sources
        (a Tiled server reads its own arrays) only have their headers read, here."""
        if source.kind != "directory":
            return read_files(source, files)
        executor = self._take()
        try:
            return self._read_chunks(executor, source, files)
        except BrokenProcessPool:
            self._forget(executor)  # a worker died (killed, out of memory): fresh ones next
            raise
        finally:
            self._give_back()

    def _read_chunks(self, executor: ProcessPoolExecutor, source: DataSource,
                     files: Sequence[tuple[int, str]]) -> list[FileResult]:
        chunks = [files[start:start + CHUNK_FILES] for start in range(0, len(files), CHUNK_FILES)]
        in_flight: deque[Future] = deque()
        results: list[FileResult] = []
        for chunk in chunks:
            if len(in_flight) >= self.workers * CHUNKS_PER_WORKER:
                results += in_flight.popleft().result()
            in_flight.append(executor.submit(_read_in_worker, source.kind, source.location,
                                             chunk, self.thumbnail))
        while in_flight:
            results += in_flight.popleft().result()
        return results

    def _take(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=worker_context(WORKER_MODULES),
                    initializer=_start_worker, initargs=(self.cache_url,))
            self._users += 1
            return self._executor

    def _give_back(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._idle_timer = threading.Timer(IDLE_SECONDS, self._end_if_idle)
                self._idle_timer.daemon = True
                self._idle_timer.start()

    def _forget(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        executor.shutdown(wait=False)

    def _end_if_idle(self) -> None:
        with self._lock:
            if self._users or self._executor is None:
                return
            executor, self._executor = self._executor, None
        executor.shutdown(wait=False)

    def close(self) -> None:
        """End the worker processes now (they finish the chunk they are reading)."""
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            executor, self._executor = self._executor, None
        if executor is not None:
            end_pool(executor, CLOSE_SECONDS)
