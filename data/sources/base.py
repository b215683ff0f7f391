"""What every data source offers: a cheap listing, a header probe, and reads of raw frames."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ContextManager, Iterator, Optional, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

# Called with (path, message) for a folder or file that cannot be listed or read.
ProblemCallback = Callable[[str, str], None]


class UnreadableImage(Exception):
    """A file or array that cannot be read as an image; the message says why and what to do."""


class TooLargeForPreview(UnreadableImage):
    """An image too large to decode for a thumbnail, though it can be read in full."""


class SourceError(Exception):
    """A data source that cannot be opened at all (missing folder, outside the data roots,
    unreachable Tiled server); the message says what to do."""


@dataclass(frozen=True)
class Listing:
    """One entry of a listing: a file (or Tiled array) and, where known, its frame count.

    ``n_frames`` is None when knowing it would mean opening the file; the header probe
    fills it in later.
    """

    path: str
    n_frames: Optional[int] = None


@dataclass(frozen=True)
class ImageInfo:
    n_frames: int
    height: int
    width: int
    dtype: str


def item_uri(path: str, frame: int) -> str:
    """The stable identifier of one frame: the path for frame 0, ``path#frame=N`` after."""
    return path if frame == 0 else f"{path}#frame={frame}"


class DataSource(Protocol):
    kind: str
    location: str

    def list_items(self, on_problem: ProblemCallback) -> Iterator[Listing]:
        """Every image in the source, sorted by path, without reading image data."""

    def probe(self, path: str) -> ImageInfo:
        """Read only the header of ``path``; raise UnreadableImage if it is not an image."""

    def read(self, path: str, frame: int = 0, max_size: Optional[int] = None) -> np.ndarray:
        """The raw 2-D values of one frame (no 8-bit conversion).

        With ``max_size`` the image may be returned strided so that neither side is much
        larger than ``max_size`` (thumbnails); None means full resolution.
        Raises UnreadableImage.
        """

    def preview(self, path: str, frame: int, max_size: int) -> np.ndarray:
        """The values a thumbnail whose longer side is ``max_size`` is rendered from: the
        frame reduced as cheaply as the source allows (block means of a local file, a
        strided read from a server). Only for thumbnails: jobs read with ``read``, whose
        values do not depend on how thumbnails are made. Raises UnreadableImage,
        TooLargeForPreview for an image too large to decode for a preview.
        """

    def open_file(self, path: str) -> ContextManager["OpenedImage"]:
        """``path`` opened once for ``probe`` and ``preview`` both (the header scan renders
        a thumbnail while it reads a header). Raises UnreadableImage, as ``probe`` does.
        """


class OpenedImage(Protocol):
    def info(self) -> ImageInfo:
        """What the source's ``probe`` gives."""

    def preview(self, frame: int, max_size: int) -> np.ndarray:
        """What the source's ``preview`` gives."""


class ProbedOnDemand:
    """An ``OpenedImage`` of a source with nothing to keep open (a server): ``info`` and
    ``preview`` are the source's ``probe`` and ``preview`` of the path."""

    def __init__(self, source: DataSource, path: str):
        self.source, self.path = source, path

    def info(self) -> ImageInfo:
        return self.source.probe(self.path)

    def preview(self, frame: int, max_size: int) -> np.ndarray:
        return self.source.preview(self.path, frame, max_size)


def split_api_key(location: str) -> tuple[str, Optional[str]]:
    """``location`` without an ``api_key=`` query parameter, and that parameter's value."""
    parts = urlsplit(location)
    query = parse_qsl(parts.query, keep_blank_values=True)
    keys = [value for name, value in query if name.lower() == "api_key"]
    if not keys:
        return location, None
    rest = urlencode([(name, value) for name, value in query if name.lower() != "api_key"])
    return urlunsplit(parts._replace(query=rest)), keys[0] or None
