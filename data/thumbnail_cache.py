"""The thumbnail cache (flask-caching), opened the same way by the web app and by the worker
processes (header scan, thumbnail renders), so a thumbnail any of them keeps is found by the
others.

``BEAMLABEL_CACHE_URL`` names it: ``filesystem://DIR`` (local: an SQLite file in DIR,
``data.thumbnail_store``), ``redis://...`` (a server) or ``null://`` (no cache).
"""
from __future__ import annotations

import logging
import os
from typing import Optional
from urllib.parse import urlparse

from flask import Flask
from flask_caching import Cache
from redis.exceptions import RedisError

from data.thumbnail_store import FILE_NAME

log = logging.getLogger(__name__)

THUMBNAIL_CACHE_SECONDS = 7 * 24 * 3600
CACHE_THRESHOLD = 200_000  # thumbnails a local cache keeps (about 1.6 GiB of 128-px PNGs)


def cache_config(cache_url: str) -> dict:
    """flask-caching settings for ``filesystem://DIR``, ``redis://...`` or ``null://``."""
    scheme = urlparse(cache_url).scheme
    if scheme == "filesystem":
        folder = cache_url[len("filesystem://"):]
        return {"CACHE_TYPE": "data.thumbnail_store.SQLiteCache",
                "CACHE_ARGS": [os.path.join(folder, FILE_NAME)],
                "CACHE_THRESHOLD": CACHE_THRESHOLD,
                "CACHE_DEFAULT_TIMEOUT": THUMBNAIL_CACHE_SECONDS}
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


class ThumbnailWriter:
    """Keeps thumbnails in the cache at ``cache_url``, as a scan or render worker does: a
    scan chunk's in one store, and none where it would not be kept. Thread-safe."""

    def __init__(self, cache_url: str):
        config = cache_config(cache_url)
        self._cache = _store_of(config)
        self._keeps_nothing = config["CACHE_TYPE"] == "NullCache"

    def has_room(self) -> bool:
        """Whether thumbnails rendered ahead would be kept: a null cache keeps nothing; a
        local one is filled ahead to half its threshold at most (past that, what the
        scan kept would push out what the pages kept); Redis evicts by its own policy."""
        if self._keeps_nothing:
            return False
        has_room = getattr(self._cache, "has_room", None)
        return has_room() if has_room is not None else True

    def set(self, key: str, body: bytes) -> None:
        self.set_many({key: body})

    def set_many(self, bodies: dict[str, bytes]) -> None:
        """Keep each ``bodies`` value under its key; a cache that is down (Redis stopped)
        only costs renders later."""
        if not bodies:
            return
        try:
            self._cache.set_many(bodies)
        except (RedisError, OSError) as error:
            log.warning("thumbnail cache unavailable, not keeping %d thumbnails: %s",
                        len(bodies), error)
