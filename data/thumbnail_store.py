"""The local thumbnail cache: one SQLite file, used through flask-caching like its own
backends, by the web process and the worker processes at once.

It replaced cachelib's FileSystemCache (a file per thumbnail). Making a file cost 320-540
us of kernel time on this machine's ext4 and was serialized by the directory's lock, so two
scan workers filled it no faster than one; a row costs 26 us (WAL journal, one transaction
for a scan chunk's thumbnails) and a look-up 9 us.

The rows past ``threshold`` written longest ago are deleted every PRUNE_EVERY stores of a
process; expired rows are never returned and are deleted then too.
"""
from __future__ import annotations

import logging
import os
import pickle
import secrets
import sqlite3
import threading
import time
from typing import Any, Iterable, Optional

from flask_caching.backends.base import BaseCache

log = logging.getLogger(__name__)

FILE_NAME = "thumbnails.sqlite3"
PRUNE_EVERY = 1000  # stores of one process between two prunes
COUNT_SECONDS = 2.0  # how long a row count is reused by ``has_room``
BUSY_SECONDS = 10.0  # how long a store waits for another process's transaction
_now = time.time  # expiry times are on this clock
_SCHEMA = ("CREATE TABLE IF NOT EXISTS entries "
           "(key TEXT PRIMARY KEY, expires REAL NOT NULL, value BLOB NOT NULL)")


class SQLiteCache(BaseCache):
    """A cachelib cache in the SQLite file ``path`` (mode 0600, as cachelib's files). One
    connection per thread of each process; a failing database costs only its thumbnails
    (logged, never raised)."""

    def __init__(self, path: str, threshold: int = 200_000, default_timeout: int = 300,
                 **_options: Any):
        super().__init__(default_timeout=default_timeout)
        self.path = path
        self.threshold = threshold
        self._local = threading.local()
        self._stores = 0
        self._counted: tuple[float, int] = (float("-inf"), 0)
        self._lock = threading.Lock()
        with self._quietly("create"):
            _create_file(path)

    @classmethod
    def factory(cls, app, config: dict, args: list, kwargs: dict) -> "SQLiteCache":
        return cls(*args, threshold=config.get("CACHE_THRESHOLD", 200_000), **kwargs)

    # -- connections ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection; a process forked after opening one opens its own. (A
        file deleted meanwhile, the cache cleared by hand, is made again first.)"""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            _create_file(self.path)
            connection = sqlite3.connect(self.path, timeout=BUSY_SECONDS,
                                         isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA synchronous=NORMAL")  # a cache: no fsync a store
            local.connection, local.pid = connection, os.getpid()
        return local.connection

    def _quietly(self, what: str):
        return _LoggedErrors(what, self.path)

    # -- cachelib's interface ---------------------------------------------------------------

    def get(self, key: str) -> Any:
        with self._quietly("read"):
            row = self._connection().execute(
                "SELECT value FROM entries WHERE key = ? AND (expires = 0 OR expires > ?)",
                (key, _now())).fetchone()
            return None if row is None else pickle.loads(row[0])
        return None

    def has(self, key: str) -> bool:
        with self._quietly("read"):
            return self._connection().execute(
                "SELECT 1 FROM entries WHERE key = ? AND (expires = 0 OR expires > ?)",
                (key, _now())).fetchone() is not None
        return False

    def set(self, key: str, value: Any, timeout: Optional[int] = None) -> bool:
        return self._store([(key, value)], timeout, replace=True) == 1

    def add(self, key: str, value: Any, timeout: Optional[int] = None) -> bool:
        return self._store([(key, value)], timeout, replace=False) == 1

    def set_many(self, mapping: dict, timeout: Optional[int] = None) -> list:
        """Store every pair in one transaction: the keys stored."""
        return list(mapping) if self._store(mapping.items(), timeout, replace=True) else []

    def delete(self, key: str) -> bool:
        with self._quietly("delete"):
            return self._connection().execute("DELETE FROM entries WHERE key = ?",
                                              (key,)).rowcount > 0
        return False

    def delete_many(self, *keys: str) -> list:
        return [key for key in keys if self.delete(key)]

    def clear(self) -> bool:
        with self._quietly("clear"):
            self._connection().execute("DELETE FROM entries")
            return True
        return False

    # -- size -------------------------------------------------------------------------------

    def has_room(self) -> bool:
        """Whether the cache holds less than half its threshold (a count at most
        COUNT_SECONDS old): the scan renders ahead only into that half, so that it never
        pushes out what the pages keep."""
        counted_at, rows = self._counted
        if time.monotonic() - counted_at > COUNT_SECONDS:
            rows = None  # a database that cannot count would not keep them either
            with self._quietly("count"):
                rows = self._connection().execute("SELECT count(*) FROM entries").fetchone()[0]
                self._counted = (time.monotonic(), rows)
        return rows is not None and rows < self.threshold // 2

    def _store(self, pairs: Iterable[tuple[str, Any]], timeout: Optional[int],
               replace: bool) -> int:
        """Rows stored of ``pairs``, in one transaction (0 when the database failed)."""
        timeout = self._normalize_timeout(timeout)
        expires = _now() + timeout if timeout else 0
        rows = [(key, expires, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
                for key, value in pairs]
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        stored = 0
        with self._quietly("write"):
            connection = self._connection()
            with _transaction(connection):
                before = connection.total_changes
                connection.executemany(f"{verb} INTO entries VALUES (?, ?, ?)", rows)
                stored = connection.total_changes - before
        if stored and self._count_stores(stored):
            self.prune()
        return stored

    def _count_stores(self, stored: int) -> bool:
        """Count this process's stores (also into the row count ``has_room`` reuses);
        whether it is time to prune."""
        with self._lock:
            counted_at, rows = self._counted
            self._counted = (counted_at, rows + stored)
            self._stores += stored
            due = self._stores >= PRUNE_EVERY
            if due:
                self._stores = 0
            return due

    def prune(self) -> None:
        """Delete the expired rows, then the oldest written past ``threshold``."""
        with self._quietly("prune"):
            connection = self._connection()
            with _transaction(connection):
                connection.execute("DELETE FROM entries WHERE expires != 0 AND expires <= ?",
                                   (_now(),))
                rows = connection.execute("SELECT count(*) FROM entries").fetchone()[0]
                if rows > self.threshold:
                    connection.execute("DELETE FROM entries WHERE rowid IN (SELECT rowid FROM "
                                       "entries ORDER BY rowid LIMIT ?)",
                                       (rows - self.threshold,))


def _create_file(path: str) -> None:
    """The cache file, made whole under another name and linked into place, unless it is
    there: processes starting at once would otherwise race to switch it to WAL (SQLite
    answers that race "database is locked" at once, without waiting) and to add its table."""
    if os.path.exists(path):
        return
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    making = os.path.join(folder, f".{os.getpid()}-{secrets.token_hex(4)}-{FILE_NAME}")
    try:
        os.close(os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        connection = sqlite3.connect(making)
        try:
            connection.execute("PRAGMA journal_mode=WAL")  # kept in the file
            connection.execute(_SCHEMA)
        finally:
            connection.close()
        try:
            os.link(making, path)
        except FileExistsError:  # another process made it first
            pass
    finally:
        os.unlink(making)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on an error) on an autocommit connection."""

    def __init__(self, connection: sqlite3.Connection):
        self._connection = connection

    def __enter__(self):
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, *_):
        self._connection.execute("ROLLBACK" if kind else "COMMIT")


class _LoggedErrors:
    """Logs an SQLite or file error of the cache as a warning and swallows it."""

    def __init__(self, what: str, path: str):
        self._what, self._path = what, path

    def __enter__(self):
        return self

    def __exit__(self, kind, error, _trace) -> bool:
        if kind is not None and issubclass(kind, (sqlite3.Error, OSError)):
            log.warning("thumbnail cache %s: cannot %s: %s", self._path, self._what, error)
            return True
        return False
