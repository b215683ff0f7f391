"""Data sources by kind: ``open_source("directory", "/data/run42")``.

Adding a kind is one entry in ``SOURCE_KINDS``: a factory taking (location, api_key).
"""
from __future__ import annotations

from typing import Callable, Optional

from data.sources.base import (DataSource, ImageInfo, Listing, SourceError, UnreadableImage,
                               item_uri)

__all__ = ["SOURCE_KINDS", "open_source", "DataSource", "ImageInfo", "Listing", "SourceError",
           "UnreadableImage", "item_uri"]


# The sources are imported on first use: data.readers imports this package (for base),
# the directory source imports data.readers, and the Tiled client may not be installed.

def _directory(location: str, api_key: Optional[str] = None) -> DataSource:
    from data.sources.directory import DirectorySource
    return DirectorySource(location)


def _tiled(location: str, api_key: Optional[str] = None) -> DataSource:
    try:
        from data.sources.tiled import TiledSource
    except ImportError as error:
        raise SourceError(f"Tiled sources need the Tiled client, which cannot be imported "
                          f"({error}); install beamlabel with its tiled dependencies") from error
    return TiledSource(location, api_key=api_key)


SOURCE_KINDS: dict[str, Callable[..., DataSource]] = {
    "directory": _directory,
    "tiled": _tiled,
}


def open_source(kind: str, location: str, api_key: Optional[str] = None) -> DataSource:
    """The data source of ``kind`` at ``location``; SourceError for an unknown kind."""
    try:
        factory = SOURCE_KINDS[kind]
    except KeyError:
        raise SourceError(f"unknown data source kind '{kind}'; known kinds: "
                          f"{', '.join(sorted(SOURCE_KINDS))}") from None
    return factory(location, api_key)
