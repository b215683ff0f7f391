"""Live data sets: marking them, registering what arrives, counting arrivals, and the
watch loop that ties a source's watcher (``data.live``) to the catalog.

Arrivals are appended after the data set's last file (file order is arrival order for
what came live), idempotently: a path already registered is skipped, so two processes
that both saw a file register it once. One process at a time watches a data set: the one
holding its lease (``datasets.live_watcher`` until ``live_watcher_until``), which it renews
while it watches; when that process dies the lease runs out and another takes over.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Optional, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from data.catalog import insert_items, scan_dataset, source_of
from data.live import FolderWatcher, TiledWatcher
from data.sources.base import Listing
from db.models import FRAME_BITS, Dataset, Item, as_utc, utcnow
from db.session import take_write_lock, transaction
from db.store import get_dataset

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0  # between looks at a polled folder or Tiled container
EVENT_LOOK_SECONDS = 0.25  # at most between looks at a folder's file events (and its walks)
GATHER_SECONDS = 0.02  # after a file event, for the rest of a burst of files
STOP_CHECK_SECONDS = 0.25  # at most, for a watch waiting for news to notice it should stop
HURRY_SECONDS = 0.05  # between asks whether registered items may go to the models
LEASE_SECONDS = 30.0
ARRIVAL_WINDOW = timedelta(minutes=1)
LOOKUP_BATCH = 5000  # paths per "already registered?" query


def set_live(session: Session, dataset_id: int, live: bool) -> Dataset:
    """Mark a data set live or not (DomainError 404 when there is none); unmarking ends
    the lease, so its watcher stops at its next look."""
    dataset = get_dataset(session, dataset_id)
    dataset.live = live
    if not live:
        dataset.live_watcher, dataset.live_watcher_until = None, None
    return dataset


def live_dataset_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Dataset.id).where(Dataset.live.is_(True))))


def arrived_since(session: Session, dataset_id: int, since: datetime) -> int:
    """How many files (Tiled arrays) of the data set arrived after ``since``."""
    return session.scalar(select(func.count()).select_from(Item).where(
        Item.dataset_id == dataset_id, Item.arrived_at > since)) or 0


def arrived_last_minute(session: Session, dataset_id: int) -> int:
    return arrived_since(session, dataset_id, utcnow() - ARRIVAL_WINDOW)


def register_arrivals(session_factory: sessionmaker[Session], dataset_id: int,
                      listings: Sequence[Listing]) -> int:
    """Add the files (arrays) not registered yet, after the last one, in the given order;
    their headers are read by ``scan_dataset`` next. Returns how many were new."""
    if not listings:
        return 0
    with transaction(session_factory) as session:
        # One writer at a time per data set (SQLite: the database; PostgreSQL: its row), so
        # no two processes give two files the same number.
        take_write_lock(session, dataset_id)
        session.execute(select(Dataset.id).where(Dataset.id == dataset_id).with_for_update())
        paths = [listing.path for listing in listings]
        seen: set[str] = set()
        for start in range(0, len(paths), LOOKUP_BATCH):  # within SQLite's variable limit
            seen.update(session.scalars(select(Item.path).where(
                Item.dataset_id == dataset_id, Item.frame == 0,
                Item.path.in_(paths[start:start + LOOKUP_BATCH]))))
        fresh = []
        for listing in listings:
            if listing.path not in seen:
                seen.add(listing.path)
                fresh.append(listing)
        if not fresh:
            return 0
        last_key = session.scalar(select(func.max(Item.sort_key))  # an index look-up
                                  .where(Item.dataset_id == dataset_id))
        next_file = 0 if last_key is None else (last_key >> FRAME_BITS) + 1
        insert_items(session, dataset_id, fresh, first_file_index=next_file,
                     arrived_at=utcnow())
        session.execute(update(Dataset).where(Dataset.id == dataset_id).values(
            total_files=Dataset.total_files + len(fresh), status="scanning"))
    return len(fresh)


# -- the lease -------------------------------------------------------------------------------

def hold_lease(session_factory: sessionmaker[Session], dataset_id: int, owner: str,
               seconds: float = LEASE_SECONDS) -> Optional[bool]:
    """Take or renew the watch of a live data set for ``owner``: True when it holds it,
    False while another process does, None when the data set is gone or not live."""
    with session_factory() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None or not dataset.live:
            return None
        until = as_utc(dataset.live_watcher_until)
        if dataset.live_watcher == owner and until is not None and \
                until - utcnow() > timedelta(seconds=seconds / 2):
            return True  # renewed lately: no write on every look
    with transaction(session_factory) as session:
        take_write_lock(session, dataset_id)
        dataset = session.scalars(select(Dataset).where(Dataset.id == dataset_id)
                                  .with_for_update()).first()
        if dataset is None or not dataset.live:
            return None
        now = utcnow()
        until = as_utc(dataset.live_watcher_until)
        if dataset.live_watcher not in (None, owner) and until is not None and until > now:
            return False
        dataset.live_watcher = owner
        dataset.live_watcher_until = now + timedelta(seconds=seconds)
    return True


def release_lease(session_factory: sessionmaker[Session], dataset_id: int, owner: str) -> None:
    with transaction(session_factory) as session:
        session.execute(update(Dataset).where(Dataset.id == dataset_id,
                                              Dataset.live_watcher == owner)
                        .values(live_watcher=None, live_watcher_until=None))


# -- the watch -------------------------------------------------------------------------------

@dataclass
class _Watch:
    arrivals: Callable[[], list[Listing]]  # the new listings since the last call
    end: Callable[[], None]
    look_every: float
    news: Optional[threading.Event] = None  # set by file events: look now, not on a timer

    def wait(self, stop: threading.Event, seconds: float) -> None:
        """Until there is news (and a little longer, for the rest of a burst), ``seconds``
        have passed or ``stop`` is set."""
        if self.news is None:
            stop.wait(seconds)
            return
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self.news.wait(min(left, STOP_CHECK_SECONDS)):  # a news wait misses stop
                stop.wait(GATHER_SECONDS)
                self.news.clear()
                return


def _open_watcher(session_factory: sessionmaker[Session], dataset_id: int,
                  use_events: bool) -> _Watch:
    """The watch of the data set's source."""
    with session_factory() as session:
        dataset = get_dataset(session, dataset_id)
        known = list(session.scalars(select(Item.path).where(Item.dataset_id == dataset_id,
                                                             Item.frame == 0)))
        source = source_of(dataset) if dataset.source_kind != "directory" else None
        folder = Path(dataset.location)
    if source is None:
        watcher = FolderWatcher(folder, known, use_events=use_events)
        watcher.start()
        events = watcher.mode == "events"
        return _Watch(lambda: [Listing(path) for path in watcher.poll()], watcher.stop,
                      EVENT_LOOK_SECONDS if events else POLL_SECONDS,
                      watcher.news if events else None)
    tiled = TiledWatcher(source, known)
    tiled.start()  # subscriptions say when to look; a look every POLL_SECONDS regardless
    return _Watch(tiled.poll, tiled.stop, POLL_SECONDS, tiled.news)


def _newest_item_id(session_factory: sessionmaker[Session], dataset_id: int) -> int:
    with session_factory() as session:
        return session.scalar(select(func.max(Item.id))
                              .where(Item.dataset_id == dataset_id)) or 0


def _readable_items_after(session_factory: sessionmaker[Session], dataset_id: int,
                          item_id: int) -> list[int]:
    """The readable items registered after ``item_id`` (frames of a stack included)."""
    with session_factory() as session:
        return list(session.scalars(select(Item.id).where(
            Item.dataset_id == dataset_id, Item.id > item_id, Item.status == "ok")
            .order_by(Item.id)))


def watch_dataset(session_factory: sessionmaker[Session], dataset_id: int, owner: str,
                  stop: threading.Event, poll_seconds: Optional[float] = None,
                  use_events: bool = True,
                  on_arrivals: Callable[[list[int]], None] = lambda item_ids: None,
                  watching: Optional[threading.Event] = None,
                  ready_for_arrivals: Callable[[], bool] = lambda: True) -> None:
    """Register a live data set's arrivals and read their headers until ``stop`` is set or
    the data set is no longer live; waits while another process holds the lease.
    ``on_arrivals`` hears the ids of each look's new readable items (e.g. to run the
    attached models on them), as one batch of everything that arrived while
    ``ready_for_arrivals()`` said no (e.g. while the last batch still waits for the worker);
    ``watching`` is set once the watcher runs (files written
    from then on arrive by their events, in order). ``poll_seconds`` overrides how often
    it looks (by default: often where file events say what arrived, else POLL_SECONDS).
    Arrivals' headers are read here, not by the app's scan pool: a few files a look need
    no other process, whose low priority (and start after it stood idle) would delay them;
    their thumbnails are drawn when a page asks."""
    watch: Optional[_Watch] = None
    waiting: list[Listing] = []  # seen by the watcher, not yet registered (a failed look)
    unsent: list[int] = []  # registered items not yet handed to on_arrivals
    try:
        while not stop.is_set():
            try:
                held = hold_lease(session_factory, dataset_id, owner)
                if held is None:
                    return
                if held:
                    if watch is None:
                        watch = _open_watcher(session_factory, dataset_id, use_events)
                        if watching is not None:
                            watching.set()
                    waiting += watch.arrivals()
                    if waiting:
                        newest = _newest_item_id(session_factory, dataset_id)
                    registered = register_arrivals(session_factory, dataset_id, waiting)
                    waiting = []
                    if registered:
                        scan_dataset(session_factory, dataset_id)
                        unsent += _readable_items_after(session_factory, dataset_id, newest)
                    if unsent and ready_for_arrivals():
                        on_arrivals(unsent)
                        unsent = []
                elif watch is not None:  # our lease ran out; another process took over
                    watch.end()
                    watch = None
            except Exception:  # noqa: BLE001 - a server or database hiccup ends no watch
                log.exception("live watch of data set %s: this look failed", dataset_id)
            seconds = poll_seconds or (watch.look_every if watch else POLL_SECONDS)
            if unsent:  # the models are busy: ask again soon
                seconds = min(seconds, HURRY_SECONDS)
            if watch is None:
                stop.wait(seconds)
            else:
                watch.wait(stop, seconds)
    finally:
        if watch is not None:
            watch.end()
        try:
            release_lease(session_factory, dataset_id, owner)
        except Exception:  # noqa: BLE001 - the database may be gone at shutdown
            log.warning("could not release the live watch of data set %s", dataset_id)
