"""The local thumbnail cache, one SQLite file shared by the web process and the workers."""
from __future__ import annotations

import logging
import os
import stat
import threading
from functools import partial

import pytest

from data import thumbnail_store
from data.thumbnail_cache import THUMBNAIL_CACHE_SECONDS, open_cache
from data.thumbnail_store import FILE_NAME, SQLiteCache


@pytest.fixture
def store(tmp_path):
    return SQLiteCache(str(tmp_path / "cache" / FILE_NAME), threshold=5)


def test_what_is_stored_is_found_by_another_opening_of_the_file(store):
    assert store.set("a", b"\x00first") and store.get("a") == b"\x00first"
    assert store.set_many({"b": b"two", "c": {"any": "value"}}) == ["b", "c"]
    other = SQLiteCache(store.path)
    assert [other.get(key) for key in "abc"] == [b"\x00first", b"two", {"any": "value"}]
    assert other.has("b") and not other.has("z") and other.get("z") is None
    assert not other.add("a", b"again") and other.get("a") == b"\x00first"
    assert other.set("a", b"replaced") and store.get("a") == b"replaced"
    assert store.delete("a") and not store.delete("a") and other.get("a") is None
    assert store.clear() and other.get("b") is None
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600  # as cachelib's files


def test_a_file_deleted_by_hand_is_made_again_for_the_next_connection(store):
    store.set("a", b"1")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(store.path + suffix):
            os.unlink(store.path + suffix)
    found = []
    in_a_new_thread = threading.Thread(  # which opens its own connection
        target=lambda: found.extend([store.set("b", b"2"), store.get("b"), store.get("a")]))
    in_a_new_thread.start()
    in_a_new_thread.join()
    assert found == [True, b"2", None]
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_the_web_apps_cache_is_this_store_with_a_weeks_timeout(tmp_path, monkeypatch):
    cache = open_cache(f"filesystem://{tmp_path / 'cache'}")
    cache.set("thumb:1", b"png")
    assert isinstance(cache.cache, SQLiteCache)
    assert cache.cache.path == str(tmp_path / "cache" / FILE_NAME)
    now = thumbnail_store._now()
    monkeypatch.setattr(thumbnail_store, "_now", lambda: now + THUMBNAIL_CACHE_SECONDS - 60)
    assert cache.get("thumb:1") == b"png"
    monkeypatch.setattr(thumbnail_store, "_now", lambda: now + THUMBNAIL_CACHE_SECONDS + 60)
    assert cache.get("thumb:1") is None and not cache.has("thumb:1")


def test_past_its_threshold_the_oldest_written_go_first(store, monkeypatch):
    monkeypatch.setattr(thumbnail_store, "PRUNE_EVERY", 3)
    store.set("expiring", b"x", timeout=10)
    for i in range(8):
        store.set(f"k{i}", b"v%d" % i)
    store.set("k0", b"rewritten")  # written again: now among the newest
    store.prune()
    kept = [key for key in ["expiring"] + [f"k{i}" for i in range(8)] if store.has(key)]
    assert kept == ["k0", "k4", "k5", "k6", "k7"]
    now = thumbnail_store._now()
    store.set("soon gone", b"x", timeout=10)
    monkeypatch.setattr(thumbnail_store, "_now", lambda: now + 20)
    store.prune()
    with thumbnail_store.sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM entries WHERE key = 'soon gone'").fetchone() \
            == (0,)


def test_has_room_while_less_than_half_full(store):
    store.threshold = 10
    store.set_many({key: b"1" for key in "abcd"})
    assert store.has_room()  # 4 of 10
    store.set("e", b"5")
    assert not store.has_room()  # its own stores count at once


def _forked(work) -> int:
    """Run ``work`` in a child forked from this process: its pid. (os.fork, not
    multiprocessing: a child of a test process that ran pools would run their exit hooks.)"""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_process_forked_after_opening_uses_its_own_connection(store):
    store.set("parent", b"p")  # the parent's connection is open
    parents = store._connection()

    def write() -> None:
        assert store._connection() is not parents  # SQLite's connections are not fork-safe
        assert store.set("child", b"from the child")

    assert _exit_code(_forked(write)) == 0
    assert store.get("child") == b"from the child" and store.get("parent") == b"p"


def test_processes_starting_at_once_share_one_new_file(tmp_path):
    path = str(tmp_path / "cache" / FILE_NAME)

    def write(i: int) -> None:
        assert SQLiteCache(path).set(f"child {i}", b"from the child")

    children = [_forked(partial(write, i)) for i in range(6)]
    assert [_exit_code(pid) for pid in children] == [0] * 6
    assert all(SQLiteCache(path).get(f"child {i}") == b"from the child" for i in range(6))
    left = {path.name for path in (tmp_path / "cache").iterdir()}
    assert FILE_NAME in left <= {FILE_NAME, f"{FILE_NAME}-wal", f"{FILE_NAME}-shm"}


def test_threads_store_at_once(store):
    store.threshold = 10_000

    def write(thread: int) -> None:
        for i in range(50):
            store.set(f"{thread}:{i}", b"x" * 4000)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(store.has(f"{t}:{i}") for t in range(4) for i in range(50))


def test_a_broken_file_costs_only_its_thumbnails(tmp_path, caplog):
    path = tmp_path / FILE_NAME
    path.write_bytes(b"this is not an SQLite database" * 200)
    with caplog.at_level(logging.WARNING, logger="data.thumbnail_store"):
        broken = SQLiteCache(str(path))
        assert broken.get("a") is None and not broken.has("a")
        assert not broken.set("a", b"x") and broken.set_many({"a": b"x"}) == []
        assert not broken.has_room()  # the scan renders nothing ahead into it
    assert "cannot" in caplog.text and str(path) in caplog.text
    assert path.read_bytes().startswith(b"this is not")  # left as it was
