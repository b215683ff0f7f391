"""The worker processes' side of the thumbnail route's renders (``api.thumbnail_renders``
is the web process's): each renders folder items' thumbnails and keeps them in the
thumbnail cache, uncounted (``KeptThumbnails``).

Apart from the web layer, so that the forkserver the workers fork from imports only what
a render needs (the ``api`` package would add the whole REST API, 0.9 s).
"""
from __future__ import annotations

import logging
import threading
from multiprocessing.util import Finalize
from typing import Optional

from flask_caching import Cache
from redis.exceptions import RedisError

from data.sources import open_source
from data.sources.base import DataSource
from data.thumbnail_cache import ThumbnailWriter, open_cache
from data.worker_processes import end_with_parent
from data.thumbnails import Thumbnail

log = logging.getLogger(__name__)
COUNT_EVERY = 256  # uncounted stores a process makes before it adds them to the count
# What a worker imports; the forkserver imports them once, before forking any worker.
WORKER_MODULES = ("numpy", "PIL.Image", "tifffile", "data.thumbnails", "data.sources",
                  "data.thumbnail_cache", __name__)


class KeptThumbnails:
    """Keeps thumbnails in the cache at ``cache_url`` without paying, per store, for the
    file-system cache's count (a rename of its count file, dearer than the render):
    while the cache is below half its threshold, stores are uncounted and added to the
    count every COUNT_EVERY; past that they are counted, so the cache prunes itself at
    its threshold as before. Thread-safe."""

    def __init__(self, cache_url: str, counted: Optional[Cache] = None):
        self._cache_url = cache_url
        self._writer: Optional[ThumbnailWriter] = None
        self._counted = counted
        self._lock = threading.Lock()
        self._uncounted = 0

    def keep(self, key: str, body: bytes) -> None:
        with self._lock:
            if self._writer is None:  # made on first use: it counts the cache's files
                self._writer = ThumbnailWriter(self._cache_url)
            writer = self._writer
            if writer.has_room():
                writer.set(key, body)
                self._uncounted += 1
                if self._uncounted >= COUNT_EVERY:
                    writer.count_kept()
                    self._uncounted = 0
                return
            if self._counted is None:
                self._counted = open_cache(self._cache_url)
        try:
            self._counted.set(key, body)
        except (RedisError, OSError) as error:
            log.warning("thumbnail cache unavailable, not keeping %s: %s", key, error)

    def count_kept(self) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.count_kept()
                self._uncounted = 0


_kept: Optional[KeptThumbnails] = None  # a worker process's, made at its start
_folders: dict[str, DataSource] = {}


def start_worker(cache_url: str) -> None:
    global _kept
    end_with_parent()
    _kept = KeptThumbnails(cache_url)
    # the stores not yet counted, when the pool ends: a pool process leaves by os._exit,
    # past atexit, but runs multiprocessing's finalizers that have an exit priority
    Finalize(None, _kept.count_kept, exitpriority=10)


def started() -> bool:
    """A worker's answer that it runs."""
    return True


def render_and_keep(location: str, path: str, frame: int, thumbnail: Thumbnail,
                    key: str) -> bytes:
    """The thumbnail of one frame of a folder's file, kept in the cache under ``key``.
    UnreadableImage and SourceError reach the waiting request as raised."""
    source = _folders.get(location)
    if source is None:
        if len(_folders) >= 32:
            _folders.pop(next(iter(_folders)))
        source = _folders[location] = open_source("directory", location)
    body = thumbnail.render(source, path, frame)
    _kept.keep(key, body)
    return body
