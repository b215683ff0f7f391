"""A Tiled server as a data source: 2-D arrays are one item, 3-D stacks one item per frame.

Everything is decided from the structures that Tiled sends with each page of a
container listing (shape and dtype), so listing and probing never transfer array data.
Reads slice on the server: a thumbnail asks for ``array[frame, ::s, ::s]`` and only the
strided pixels cross the network.

The API key is held only by this object and Tiled's HTTP client (as a request header);
every message this class returns or raises goes through ``_redact`` first.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from contextlib import nullcontext
from typing import ContextManager, Iterator, Optional
from urllib.parse import urlsplit

import httpx
import numpy as np

from data.sources.base import (ImageInfo, Listing, ProbedOnDemand, ProblemCallback,
                               SourceError, UnreadableImage, split_api_key)

# Tiled servers of the 0.2 series serve at most 300 entries per page (100 by default).
LISTING_PAGE_SIZE = 300
# Child clients kept per source: enough for a gallery page of thumbnails, small in memory.
CLIENT_CACHE_SIZE = 256
# How long to wait for the server to accept a connection before saying it is unreachable
# (Tiled's own client would retry a refused connection for up to 45 s).
CONNECT_TIMEOUT_S = 5.0
# Pixel kinds that make an image: bool, signed and unsigned integers, floats.
_IMAGE_KINDS = "biuf"
_KEY_PARAM = re.compile(r"(api_key=)[^&\s'\"]*", re.IGNORECASE)


class TiledSource:
    """The arrays under one Tiled container (or under the server root)."""

    kind = "tiled"

    def __init__(self, location: str, api_key: Optional[str] = None) -> None:
        location, key_in_uri = split_api_key(location.strip())
        self.location = location
        self._api_key = api_key or key_in_uri or None
        self._lock = threading.Lock()
        self._root = None  # the tiled container client, made on first use
        self._clients: OrderedDict[str, object] = OrderedDict()

    def __repr__(self) -> str:
        return f"TiledSource({self.location!r})"

    # -- the DataSource protocol ---------------------------------------------------------

    @property
    def api_key(self) -> Optional[str]:
        """The key to store with the data set (server side only; it may come from the URI)."""
        return self._api_key

    def list_items(self, on_problem: ProblemCallback) -> Iterator[Listing]:
        root = self._connect()
        listings: list[Listing] = []
        self._walk(root, "", listings, on_problem)
        listings.sort(key=lambda listing: listing.path)
        yield from listings

    def probe(self, path: str) -> ImageInfo:
        shape, dtype = _image_structure(self._array(path), path)
        n_frames, (height, width) = (1, shape) if len(shape) == 2 else (shape[0], shape[1:])
        return ImageInfo(n_frames=n_frames, height=height, width=width, dtype=dtype.name)

    def read(self, path: str, frame: int = 0, max_size: Optional[int] = None) -> np.ndarray:
        client = self._array(path)
        shape, _ = _image_structure(client, path)
        n_frames = 1 if len(shape) == 2 else shape[0]
        if not 0 <= frame < n_frames:
            raise UnreadableImage(f"{path} has {n_frames} frame(s); there is no frame {frame}")
        # The same step as data/readers.py: the longer side ends up between max_size and
        # 2 * max_size (or is the full image when that is smaller).
        stride = max(1, max(shape[-2:]) // int(max_size)) if max_size else 1
        plane = (slice(None, None, stride), slice(None, None, stride))
        selection = plane if len(shape) == 2 else (int(frame), *plane)
        try:
            # With stride > 1 the server does the slicing (?slice=N,::s,::s), so only the
            # strided pixels are transferred.
            values = client.read(slice=selection)
        except Exception as error:  # noqa: BLE001 - every failure becomes one clear message
            raise self._error_for(error, path, reading=True) from None
        values = np.asarray(values)
        return values if values.flags.writeable else values.copy()

    def preview(self, path: str, frame: int, max_size: int) -> np.ndarray:
        """What a thumbnail is rendered from: the frame strided on the server."""
        return self.read(path, frame, max_size)

    def open_file(self, path: str) -> ContextManager[ProbedOnDemand]:
        return nullcontext(ProbedOnDemand(self, path))

    # -- connecting and looking up --------------------------------------------------------

    def _connect(self):
        """The client of ``location``; connects on first use (again after a failure)."""
        with self._lock:
            if self._root is not None:
                return self._root
        from tiled.client import from_uri  # tiled is heavy to import; only when needed
        from tiled.client.container import Container

        self._check_reachable()
        try:
            root = from_uri(self.location, api_key=self._api_key, show_progress=False)
        except Exception as error:  # noqa: BLE001 - every failure becomes one clear message
            raise self._error_for(error, None) from None
        if not isinstance(root, Container):
            family = root.item["attributes"]["structure_family"]
            raise SourceError(self._redact(
                f"{self.location} is a Tiled {family}, not a container: give the URI of "
                f"the container that holds it"))
        with self._lock:
            if self._root is None:
                self._root = root
            return self._root

    def _check_reachable(self) -> None:
        """Fail in seconds, not after Tiled's retries, when nothing answers at the URI."""
        parts = urlsplit(self.location)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SourceError(self._redact(
                f"{self.location!r} is not a Tiled URI: check the URI; it should look like "
                f"http://host:port/api/v1/metadata/<container> or http://host:port"))
        try:
            httpx.get(f"{parts.scheme}://{parts.netloc}/",
                      timeout=httpx.Timeout(CONNECT_TIMEOUT_S, connect=CONNECT_TIMEOUT_S))
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            raise self._error_for(error, None) from None

    def _array(self, path: str):
        """The (cached) client of the array at ``path``; UnreadableImage if there is none."""
        segments = path.split("/")
        if not path or any(segment in ("", ".", "..") for segment in segments):
            raise UnreadableImage(f"{path!r} is not a path inside the Tiled container")
        with self._lock:
            client = self._clients.get(path)
            if client is not None:
                self._clients.move_to_end(path)
                return client
        root = self._connect()
        try:
            client = root[tuple(segments)]
        except KeyError:
            raise UnreadableImage(self._redact(
                f"{path} is no longer on the Tiled server at {self.location}")) from None
        except Exception as error:  # noqa: BLE001 - every failure becomes one clear message
            raise self._error_for(error, path) from None
        with self._lock:
            self._clients[path] = client
            while len(self._clients) > CLIENT_CACHE_SIZE:
                self._clients.popitem(last=False)
        return client

    def _walk(self, container, prefix: str, out: list[Listing],
              on_problem: ProblemCallback) -> None:
        """Add the images below ``container``, page by page, from structures alone."""
        from tiled.client.container import Container

        try:
            for key, child in container.items().page_size(LISTING_PAGE_SIZE):
                path = f"{prefix}/{key}" if prefix else key
                if isinstance(child, Container):
                    self._walk(child, path, out, on_problem)
                else:
                    self._list_array(child, path, out, on_problem)
        except SourceError:
            raise
        except httpx.TransportError as error:  # the server went away: no listing at all
            raise self._error_for(error, None) from None
        except Exception as error:  # noqa: BLE001 - one broken container spoils no listing
            on_problem(prefix or "/", self._error_for(error, prefix).args[0])

    def _list_array(self, child, path: str, out: list[Listing],
                    on_problem: ProblemCallback) -> None:
        """Add the image at ``path`` to ``out`` from its structure, or report why not."""
        family = child.item["attributes"]["structure_family"]
        if family != "array":
            on_problem(path, f"a Tiled {family}, not an image array; skipped")
            return
        try:
            shape, _ = _image_structure(child, path)
        except UnreadableImage as error:
            on_problem(path, str(error))
            return
        out.append(Listing(path=path, n_frames=1 if len(shape) == 2 else shape[0]))
        with self._lock:  # the listing hands out the clients of the first items
            if len(self._clients) < CLIENT_CACHE_SIZE:
                self._clients[path] = child

    def container(self, prefix: str):
        """The client of the container at ``prefix`` ('' is the top), authenticated as
        this source is (KeyError when there is none; tiled's errors otherwise)."""
        root = self._connect()
        return root[tuple(prefix.split("/"))] if prefix else root

    def new_entries(self, prefix: str, offset: int, on_problem: ProblemCallback
                    ) -> tuple[list[Listing], list[str], int]:
        """The entries of the container at ``prefix`` ('' is the top) from position
        ``offset`` on: its images, the paths of its sub-containers, and the offset to ask
        from next time. A Tiled catalog lists entries in the order they were created, so new
        keys come last; when entries were removed the listing starts again from 0 (the
        caller skips what it knows). Only the new page(s) of structures are transferred."""
        from tiled.client.container import Container

        images: list[Listing] = []
        containers: list[str] = []
        try:
            container = self.container(prefix)
            container.refresh()  # the client holds the listing it was made with
            total = len(container)
            offset = offset if offset <= total else 0
            for key, child in container.items()[offset:]:
                path = f"{prefix}/{key}" if prefix else key
                if isinstance(child, Container):
                    containers.append(path)
                else:
                    self._list_array(child, path, images, on_problem)
                offset += 1
        except SourceError:
            raise
        except httpx.TransportError as error:  # the server went away
            raise self._error_for(error, None) from None
        except KeyError:
            on_problem(prefix, "this container is no longer on the Tiled server")
        except Exception as error:  # noqa: BLE001 - one broken container stops no watch
            on_problem(prefix or "/", self._error_for(error, prefix or None).args[0])
        return images, containers, offset

    # -- messages ------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        text = _KEY_PARAM.sub(r"\1***", text)
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    def _error_for(self, error: Exception, path: Optional[str],
                   reading: bool = False) -> Exception:
        """A SourceError (the server as a whole) or UnreadableImage (one array) saying
        what went wrong and what to check, never containing the API key."""
        where = f"the Tiled server at {self.location}"
        status = getattr(getattr(error, "response", None), "status_code", None)
        if isinstance(error, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
            return SourceError(self._redact(
                f"{self.location!r} is not a Tiled URI ({error}): check the URI"))
        if isinstance(error, httpx.TransportError):
            # One message for refused, reset and timed-out connections: the difference
            # would tell whoever gave the URI which ports of the host are open.
            return SourceError(self._redact(
                f"cannot reach {where}: check the URI and that the Tiled server is running"))
        if status in (401, 403) or (isinstance(error, RuntimeError)
                                    and "API key" in str(error)):
            given = "the API key was refused" if self._api_key else "it needs an API key"
            return SourceError(self._redact(
                f"{where} denied access ({given}): check the API key"))
        if path is None and (status == 404 or isinstance(error, KeyError)):
            return SourceError(self._redact(
                f"there is no container at {self.location}: check the URI path"))
        detail = self._redact(f"{type(error).__name__}: {error}")
        if path is None:
            return SourceError(f"cannot open {self._redact(where)} ({detail}): check the URI")
        action = "read" if reading else "open"
        return UnreadableImage(self._redact(f"cannot {action} {path} on {where} ({detail})"))


def _image_structure(client, path: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the array's structure; UnreadableImage if it is no image."""
    family = client.item["attributes"]["structure_family"]
    if family != "array":
        raise UnreadableImage(f"{path} is a Tiled {family}, not an image array")
    structure = client.structure()
    shape = tuple(int(side) for side in structure.shape)
    try:
        dtype = structure.data_type.to_numpy_dtype()
    except Exception:  # noqa: BLE001 - exotic dtypes are simply not images
        dtype = None
    if len(shape) not in (2, 3):
        raise UnreadableImage(
            f"{path} is a {len(shape)}-D array of shape {shape}; images are 2-D arrays "
            f"or 3-D stacks of frames")
    if dtype is None or dtype.kind not in _IMAGE_KINDS or dtype.fields:
        raise UnreadableImage(f"{path} holds {dtype} values, not image pixels")
    if 0 in shape:
        raise UnreadableImage(f"{path} is empty (shape {shape})")
    return shape, dtype
