"""The thumbnail cache (flask-caching), opened the same way by the web app and by the header
scan's worker processes, so a thumbnail either of them keeps is found by the other.

``BEAMLABEL_CACHE_URL`` names it: ``filesystem://DIR`` (local), ``redis://...`` (a server)
or ``null://`` (no cache).
"""
from __future__ import annotations

import logging
import os
import secrets
import struct
from typing import Optional
from urllib.parse import urlparse

from flask import Flask
from flask_caching import Cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

THUMBNAIL_CACHE_SECONDS = 7 * 24 * 3600


def cache_config(cache_url: str) -> dict:
    """flask-caching settings for ``filesystem://DIR``, ``redis://...`` or ``null://``."""
    scheme = urlparse(cache_url).scheme
    if scheme == "filesystem":
        return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": cache_url[len("filesystem://"):],
                "CACHE_THRESHOLD": 200_000, "CACHE_DEFAULT_TIMEOUT": THUMBNAIL_CACHE_SECONDS}
    if scheme in ("redis", "rediss"):
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": cache_url,
                "CACHE_KEY_PREFIX": "beamlabel:", "CACHE_DEFAULT_TIMEOUT": THUMBNAIL_CACHE_SECONDS}
    if scheme == "null":
        return {"CACHE_TYPE": "NullCache"}
    raise ValueError(f"BEAMLABEL_CACHE_URL '{cache_url}' is not filesystem://DIR, redis://HOST "
                     "or null://")


def open_cache(cache_url: str, app: Optional[Flask] = None) -> Cache:
    """The cache at ``cache_url``, kept on ``app`` (the web server), or on an app of its own
    where there is none (a scan worker process)."""
    return Cache(app or Flask(__name__), config=cache_config(cache_url))


def _store_of(config: dict):
    """The cachelib store of a flask-caching ``config``, on an app of its own. (``Cache.cache``
    looks it up on the current app, which inside a request is the web app's.)"""
    app = Flask(__name__)
    cache = Cache(app, config=config)
    return app.extensions["cache"][cache]


class _UncountedFiles:
    """Stores into a cachelib file-system cache ``store`` what its ``set`` would, without
    what a scan's stores need not pay for each: the count file, the random temporary name
    (mkstemp), the chmod and stat after the rename. On ext4 those were a quarter of a
    thumbnail's store. The file: the expiry time, then the pickled value, written under a
    temporary name the cache does not list, renamed into place (a reader never sees half
    of it)."""

    def __init__(self, store):
        self._store = store
        # Unique to this writer; the cache's transaction suffix keeps it out of its listing.
        self._temporary = os.path.join(
            store._path, f"{os.getpid()}-{secrets.token_hex(4)}{store._fs_transaction_suffix}")

    def set(self, key: str, value: bytes) -> bool:
        store = self._store
        data = struct.pack("I", store._normalize_timeout(None)) + store.serializer.dumps(value)
        # os.open and os.write: a file object's buffer, fstat and tty check cost 20-30 us
        # of a thumbnail's 130 us store (the cache's mode, as its chmod sets)
        file = os.open(self._temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, store._mode)
        try:
            written = 0
            while written < len(data):
                written += os.write(file, data[written:])
        finally:
            os.close(file)
        os.replace(self._temporary, store._get_filename(key))
        return True


class ThumbnailWriter:
    """Keeps many thumbnails in the cache at ``cache_url``, as a scan worker does.

    A file-system cache counts its files (to prune past its threshold) by rewriting a count
    file on every store; on ext4 that rename over an existing file flushes it and costs
    more than rendering the thumbnail. The writer stores uncounted and adds what it stored
    to the count once, in ``count_kept``. One thread at a time (its temporary file is one).
    """

    def __init__(self, cache_url: str):
        config = cache_config(cache_url)
        counted = config.get("CACHE_TYPE") == "FileSystemCache"
        self._counter = _store_of(config) if counted else None
        self._cache = _UncountedFiles(self._counter) if counted else _store_of(config)
        self._threshold = config.get("CACHE_THRESHOLD", 0)
        self._keeps_nothing = config.get("CACHE_TYPE") == "NullCache"
        self._uncounted = 0

    def has_room(self) -> bool:
        """Whether thumbnails rendered ahead would be kept. A null cache keeps nothing; a
        file-system cache is filled ahead to half its threshold at most: past the threshold
        the next store prunes it (listing every file), and that store would be a page's."""
        if self._keeps_nothing:
            return False
        if self._counter is None:
            return True  # Redis evicts by its own memory policy
        return self._counter._file_count + self._uncounted < self._threshold // 2

    def set(self, key: str, body: bytes) -> None:
        """Keep ``body``; a cache that is down (Redis stopped) only costs a render later."""
        try:
            kept = self._cache.set(key, body)
        except (RedisError, OSError) as error:
            log.warning("thumbnail cache unavailable, not keeping %s: %s", key, error)
            return
        if kept and self._counter is not None:
            self._uncounted += 1

    def count_kept(self) -> None:
        if self._uncounted:
            self._counter._update_count(delta=self._uncounted)  # cachelib's own bookkeeping
            self._uncounted = 0
