"""The worker processes' side of the thumbnail route's renders (``api.thumbnail_renders``
is the web process's): each renders folder items' thumbnails and keeps them in the
thumbnail cache.

Apart from the web layer, so that the forkserver the workers fork from imports only what
a render needs (the ``api`` package would add the whole REST API, 0.9 s).
"""
from __future__ import annotations

from typing import Optional

from data.sources import open_source
from data.sources.base import DataSource
from data.thumbnail_cache import ThumbnailWriter
from data.worker_processes import end_with_parent
from data.thumbnails import Thumbnail

# What a worker imports; the forkserver imports them once, before forking any worker.
WORKER_MODULES = ("numpy", "PIL.Image", "tifffile", "data.thumbnails", "data.sources",
                  "data.thumbnail_cache", __name__)

_kept: Optional[ThumbnailWriter] = None  # a worker process's, made at its start
_folders: dict[str, DataSource] = {}


def start_worker(cache_url: str) -> None:
    global _kept
    end_with_parent()
    _kept = ThumbnailWriter(cache_url)


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
    _kept.set(key, body)
    return body
