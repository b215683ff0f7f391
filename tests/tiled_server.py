"""A real Tiled server on loopback for tests, and a byte-counting relay in front of it.

Use the ``tiled_server`` fixture (registered in tests/conftest.py)::

    def test_something(tiled_server):
        root = tiled_server.new_container()              # a fresh, empty container
        tiled_server.write_array(f"{root}/scan/img", np.zeros((8, 8), np.uint16))
        source = TiledSource(tiled_server.metadata_uri(root), api_key=tiled_server.api_key)

One server serves the whole test session (starting one takes several seconds), so each
test writes into its own container from ``new_container()``. The server is Tiled's own
``SimpleTiledServer`` (uvicorn in a thread, a SQLite catalog and files in a temporary
folder); it always requires its API key, so it doubles as the "server with an API key".
"""
from __future__ import annotations

import itertools
import socket
import threading
from pathlib import Path
from typing import Optional

import numpy as np
import pytest


class TiledTestServer:
    """A running Tiled server: ``uri`` (API root, no key in it), ``api_key``, writers."""

    def __init__(self, directory: Path) -> None:
        from tiled.server import SimpleTiledServer

        self._server = SimpleTiledServer(directory)  # random free port, random hex key
        self.host = "127.0.0.1"
        self.port: int = self._server.port
        self.api_key: str = self._server.api_key
        self.uri = f"http://{self.host}:{self.port}/api/v1"
        self.directory = Path(self._server.directory)
        self._client = None
        self._names = itertools.count()

    def metadata_uri(self, path: str = "", port: Optional[int] = None) -> str:
        """The URI of the node at ``path`` ('' is the root), optionally via another port
        (e.g. a ``ByteCountingProxy`` in front of this server)."""
        return f"http://{self.host}:{port or self.port}/api/v1/metadata/{path.strip('/')}"

    def client(self):
        """A Tiled client of the server root (authenticated)."""
        if self._client is None:
            from tiled.client import from_uri

            self._client = from_uri(self.uri, api_key=self.api_key, show_progress=False)
        return self._client

    def new_container(self, prefix: str = "test") -> str:
        """Create an empty container under the root and return its path (its key)."""
        key = f"{prefix}_{next(self._names)}"
        self.client().create_container(key)
        return key

    def write_array(self, path: str, array: np.ndarray, chunk_frames: Optional[int] = None
                    ) -> str:
        """Write ``array`` at the '/'-joined ``path``, creating containers on the way;
        return the array's metadata URI. ``chunk_frames`` stores a stack in chunks of that
        many frames (as detectors write them) instead of Tiled's chunks, which can hold the
        whole stack and then make the server read all of it for one frame."""
        *parents, key = path.strip("/").split("/")
        node = self.client()
        for name in parents:
            node = node[name] if name in node else node.create_container(name)
        array = np.asarray(array)
        if chunk_frames is not None:
            import dask.array

            array = dask.array.from_array(array, chunks=(chunk_frames, *array.shape[1:]))
        node.write_array(array, key=key)
        return self.metadata_uri(path)

    def write_table(self, path: str, columns: dict) -> str:
        """Write a table (something that is not an image) at ``path``."""
        import pandas as pd

        *parents, key = path.strip("/").split("/")
        node = self.client()
        for name in parents:
            node = node[name] if name in node else node.create_container(name)
        node.write_table(pd.DataFrame(columns), key=key)
        return self.metadata_uri(path)

    def close(self) -> None:
        if self._client is not None:
            self._client.context.close()
        self._server.close()


@pytest.fixture(scope="session")
def tiled_server(tmp_path_factory):
    """One Tiled server on loopback for the session; shut down at its end."""
    server = TiledTestServer(tmp_path_factory.mktemp("tiled"))
    try:
        yield server
    finally:
        server.close()


class ByteCountingProxy:
    """A TCP relay on loopback that forwards to ``target_port`` and counts the bytes.

    Point a client at ``port`` instead of the server's; ``bytes_to_client`` is what the
    server sent (what a client downloads), ``sent_by_client()`` what the client sent
    (its request lines, to see which URLs were asked for). Use as a context manager.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)  # so the accept loop notices close()
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._to_server = bytearray()
        self.bytes_to_client = 0
        self._closed = False
        self._start(self._accept_loop)

    def reset(self) -> None:
        with self._lock:
            self._to_server.clear()
            self.bytes_to_client = 0

    def sent_by_client(self) -> bytes:
        with self._lock:
            return bytes(self._to_server)

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:  # the listener was closed
                return
            downstream.settimeout(None)
            upstream = socket.create_connection(self._target)
            with self._lock:
                if self._closed:
                    downstream.close()
                    upstream.close()
                    return
                self._sockets += [downstream, upstream]
            self._start(self._pump, downstream, upstream, True)
            self._start(self._pump, upstream, downstream, False)

    def _pump(self, source: socket.socket, sink: socket.socket, to_server: bool) -> None:
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    if to_server:
                        self._to_server += chunk
                    else:
                        self.bytes_to_client += len(chunk)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        self._listener.close()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> "ByteCountingProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class WebsocketRefusingProxy(ByteCountingProxy):
    """A ``ByteCountingProxy`` that answers every websocket upgrade (a Tiled subscription)
    with 404, like a Tiled server without streaming; ``refused`` counts them."""

    NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.refused = 0
        super().__init__(target_port, target_host)

    def _pump(self, source: socket.socket, sink: socket.socket, to_server: bool) -> None:
        if to_server:
            try:
                opening = source.recv(65536, socket.MSG_PEEK)
            except OSError:
                opening = b""
            if b"upgrade: websocket" in opening.lower():
                with self._lock:
                    self.refused += 1
                try:
                    source.recv(65536)  # read, so that closing sends no reset over the answer
                    source.sendall(self.NOT_FOUND)
                    source.shutdown(socket.SHUT_WR)
                    sink.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
        super()._pump(source, sink, to_server)
