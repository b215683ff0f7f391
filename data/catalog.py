"""Registering data sets: a cheap listing first, then a header scan in the background.

Registration only lists files (no file is opened), so 100,000 files register in
seconds; ``scan_dataset`` then reads each header, fills in shape and dtype, adds one
item per extra frame of multi-frame files and records unreadable files as problems.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from functools import partial
from typing import Callable, Iterable, Optional, Sequence
from urllib.parse import urlsplit

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from data.demo import generate_demo
from data.scan_pool import FileResult, ScanPool, read_files
from data.sources import Listing, SourceError, item_uri, open_source
from data.sources.base import DataSource, split_api_key
from data.sources.directory import check_inside_roots
from db.models import CurrentLabel, Dataset, DatasetProblem, Item, sort_key_of
from db.session import take_write_lock, transaction
from errors import DomainError
from settings import LOOPBACK_HOSTS, Settings

SCAN_BATCH = 1000
_INSERT_BATCH = 20_000


def source_of(dataset: Dataset) -> DataSource:
    return open_source(dataset.source_kind, dataset.location, dataset.api_key)


def shown_location(kind: str, location: str) -> str:
    """The location as users may see it: never with a Tiled ``api_key=`` parameter."""
    return split_api_key(location)[0] if kind == "tiled" else location


def _check_location(kind: str, location: str, data_roots: Sequence[Path],
                    tiled_hosts: Sequence[str]) -> str:
    """The location to open: a folder inside the data roots, or a Tiled URI on an allowed
    host (the server connects to it: any host would let a request probe the network)."""
    if kind == "directory":
        return str(check_inside_roots(Path(location), data_roots))
    location = location.strip().rstrip("/")
    if kind == "tiled":
        try:
            host = (urlsplit(location).hostname or "").lower()
        except ValueError:
            host = ""
        if host not in tiled_hosts:
            raise SourceError(f"Tiled data sets may come only from the hosts "
                              f"{', '.join(tiled_hosts) or '(none)'}, not '{host}'; an admin "
                              f"adds a host with BEAMLABEL_TILED_HOSTS")
    return location


def add_problem(session: Session, dataset_id: int, path: str, message: str,
                item_id: Optional[int] = None) -> None:
    session.add(DatasetProblem(dataset_id=dataset_id, path=path, message=message,
                               item_id=item_id))


def _item_row(dataset_id: int, path: str, file_index: int, frame: int, **fields) -> dict:
    return {"dataset_id": dataset_id, "uri": item_uri(path, frame), "path": path,
            "file_index": file_index, "frame": frame,
            "sort_key": sort_key_of(file_index, frame), "status": "pending", **fields}


def _item_rows(dataset_id: int, listings: Iterable[Listing], first_file_index: int,
               arrived_at: Optional[datetime]):
    for file_index, listing in enumerate(listings, start=first_file_index):
        for frame in range(listing.n_frames or 1):
            yield _item_row(dataset_id, listing.path, file_index, frame,
                            arrived_at=arrived_at if frame == 0 else None)


def insert_items(session: Session, dataset_id: int, listings: Iterable[Listing],
                 first_file_index: int = 0, arrived_at: Optional[datetime] = None) -> int:
    """Bulk-insert one item per listed file (per frame where the frame count is known),
    numbering the files from ``first_file_index``; a live data set's arrivals say when."""
    count, batch = 0, []
    for row in _item_rows(dataset_id, listings, first_file_index, arrived_at):
        batch.append(row)
        if len(batch) == _INSERT_BATCH:
            session.execute(Item.__table__.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        session.execute(Item.__table__.insert(), batch)
        count += len(batch)
    _count_new_items(session, dataset_id, count)
    return count


def _count_new_items(session: Session, dataset_id: int, count: int) -> None:
    session.execute(update(Dataset).where(Dataset.id == dataset_id)
                    .values(item_count=Dataset.item_count + count))


def check_name_free(session: Session, name: str) -> None:
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        raise DomainError(f"a data set named '{name}' exists already; pick another name",
                          "name", status=409)


def register_dataset(session_factory: sessionmaker[Session], data_roots: Sequence[Path],
                     name: str, kind: str, location: str, api_key: Optional[str] = None,
                     tiled_hosts: Sequence[str] = LOOPBACK_HOSTS, live: bool = False) -> Dataset:
    """Create a data set and its items from a listing; the header scan comes after. A
    live one may start empty (a folder the experiment is about to fill)."""
    name = (name or "").strip()
    if not name:
        raise DomainError("a data set needs a name", "name")
    try:
        location = _check_location(kind, location, data_roots, tiled_hosts)
        source = open_source(kind, location, api_key)
    except SourceError as error:
        raise DomainError(str(error), "source") from error
    # A Tiled key given inside the URI moves to the api_key column, out of the location.
    location, api_key = source.location, getattr(source, "api_key", api_key)
    with transaction(session_factory) as session:
        check_name_free(session, name)
        dataset = Dataset(name=name, source_kind=kind, location=location, api_key=api_key,
                          status="scanning", live=live)
        session.add(dataset)
        session.flush()
        problems: list[tuple[str, str]] = []
        try:
            listings = list(source.list_items(lambda path, msg: problems.append((path, msg))))
        except SourceError as error:
            raise DomainError(str(error), "source") from error
        if not listings and not live:
            raise DomainError(f"no images (PNG, JPEG, TIFF or Tiled arrays) found in {location}",
                              "source")
        insert_items(session, dataset.id, listings)
        for path, message in problems:
            add_problem(session, dataset.id, path, message)
        dataset.total_files = len(listings)
        session.flush()
        session.refresh(dataset)  # item_count was raised in SQL
    return dataset


def _pending_files(session: Session, dataset_id: int, lock: bool
                   ) -> list[tuple[int, str, int]]:
    """The next files to scan (item id, path, file index). With ``lock`` (PostgreSQL) none
    of them is in another process's batch: several processes of a server may resume one
    scan, each skipping the rows the others have locked, and each file is read once."""
    query = select(Item.id, Item.path, Item.file_index).where(
        Item.dataset_id == dataset_id, Item.status == "pending", Item.frame == 0
    ).order_by(Item.file_index).limit(SCAN_BATCH)
    if lock:
        query = query.with_for_update(skip_locked=True)
    return [tuple(row) for row in session.execute(query)]


def _still_pending(session: Session, files: Sequence[tuple[int, str, int]]
                   ) -> list[tuple[int, str, int]]:
    """The files of a batch no other process has recorded meanwhile."""
    pending = set(session.scalars(select(Item.id).where(
        Item.id.in_([item_id for item_id, _, _ in files]), Item.status == "pending")))
    return [file for file in files if file[0] in pending]


def _has_pending_files(session: Session, dataset_id: int) -> bool:
    return session.scalar(select(Item.id).where(Item.dataset_id == dataset_id, Item.frame == 0,
                                                Item.status == "pending").limit(1)) is not None


def _frames_known(session: Session, dataset_id: int, file_indexes: Sequence[int]
                  ) -> dict[int, int]:
    """How many items each of these files has (one per frame known so far); the frames of
    the files of a batch are one range of sort keys: an index range, not path look-ups."""
    return dict(session.execute(
        select(Item.file_index, func.count()).where(
            Item.dataset_id == dataset_id,
            Item.sort_key.between(sort_key_of(min(file_indexes), 0),
                                  sort_key_of(max(file_indexes) + 1, 0) - 1))
        .group_by(Item.file_index)).all())


def _record_results(session: Session, dataset_id: int, files: Sequence[tuple[int, str, int]],
                    results: Sequence[FileResult]) -> None:
    """Write a batch's headers in a few statements: shape and dtype on every frame of each
    readable file, items for the frames found, unreadable files marked with their problem."""
    by_id = {item_id: (path, file_index) for item_id, path, file_index in files}
    readable = [r for r in results if r.info is not None]
    known = _frames_known(session, dataset_id, [index for _, _, index in files]) \
        if readable else {}
    items = Item.__table__
    # every frame of one file known so far: a range of sort keys
    of_file = (items.c.dataset_id == dataset_id,
               items.c.sort_key.between(bindparam("first"), bindparam("last")))

    def file_range(result: FileResult) -> dict[str, int]:
        file_index = by_id[result.item_id][1]
        return {"first": sort_key_of(file_index, 0), "last": sort_key_of(file_index + 1, 0) - 1}

    if readable:
        session.execute(
            update(items).where(*of_file)
            .values(height=bindparam("h"), width=bindparam("w"), dtype=bindparam("t"),
                    status="ok"),
            [{**file_range(r), "h": r.info.height, "w": r.info.width, "t": r.info.dtype}
             for r in readable])
    new_frames = [
        _item_row(dataset_id, *by_id[r.item_id], frame, height=r.info.height,
                  width=r.info.width, dtype=r.info.dtype, status="ok")
        for r in readable for frame in range(known.get(by_id[r.item_id][1], 0), r.info.n_frames)]
    if new_frames:
        session.execute(items.insert(), new_frames)
        _count_new_items(session, dataset_id, len(new_frames))
    unreadable = [r for r in results if r.problem is not None]
    if unreadable:  # no frame of an unreadable file stays pending
        session.execute(update(items).where(*of_file).values(status="unreadable"),
                        [file_range(r) for r in unreadable])
        session.execute(DatasetProblem.__table__.insert(), [
            {"dataset_id": dataset_id, "path": by_id[r.item_id][0], "message": r.problem,
             "item_id": r.item_id} for r in unreadable])


def mark_unreadable(session: Session, item: Item, message: str) -> None:
    """Show ``item`` as 'unreadable' and list it among its data set's problems (once)."""
    if item.status == "unreadable":
        return
    item.status = "unreadable"
    add_problem(session, item.dataset_id, item.uri, message, item_id=item.id)


def scan_dataset(session_factory: sessionmaker[Session], dataset_id: int,
                 pool: Optional[ScanPool] = None) -> None:
    """Read every pending file's header; resumable (it picks up pending items only). A
    ``pool`` reads them in its worker processes and renders their default thumbnails into
    the cache while each file is open; without one they are read here, headers only."""
    with session_factory() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            return
        source = source_of(dataset)
        on_sqlite = session.get_bind().dialect.name == "sqlite"
    read = pool.read if pool is not None else read_files
    scan_batch = _scan_batch_unlocked if on_sqlite else _scan_batch_locked
    while scan_batch(session_factory, dataset_id, partial(read, source)):
        pass


def _scan_batch_locked(session_factory: sessionmaker[Session], dataset_id: int,
                       read: Callable) -> bool:
    """One batch, its rows locked while its files are read (PostgreSQL: row locks, which
    stop no other writer). False when nothing was left to scan."""
    with transaction(session_factory) as session:
        files = _pending_files(session, dataset_id, lock=True)
        if files:
            _record_results(session, dataset_id, files, read(_paths(files)))
        return _record_progress(session, dataset_id, files)


def _scan_batch_unlocked(session_factory: sessionmaker[Session], dataset_id: int,
                         read: Callable) -> bool:
    """One batch read with no lock held (SQLite has one write lock for the whole database:
    held while files are read, it would keep label writes waiting), then recorded for the
    files still pending; another process that scans the same data set meanwhile reads the
    same files, and whichever records a file first counts it."""
    with session_factory() as session:
        files = _pending_files(session, dataset_id, lock=False)
    results = read(_paths(files)) if files else []
    with transaction(session_factory) as session:
        take_write_lock(session, dataset_id)
        if files:
            files = _still_pending(session, files)
            kept = {item_id for item_id, _, _ in files}
            _record_results(session, dataset_id, files,
                            [r for r in results if r.item_id in kept])
        return _record_progress(session, dataset_id, files) or bool(results)


def _paths(files: Sequence[tuple[int, str, int]]) -> list[tuple[int, str]]:
    return [(item_id, path) for item_id, path, _ in files]


def _record_progress(session: Session, dataset_id: int,
                     files: Sequence[tuple[int, str, int]]) -> bool:
    """Count a batch's files scanned, or mark the data set ready when none is left; False
    when this process has nothing left to scan."""
    if files:
        progress = {"scanned_files": Dataset.scanned_files + len(files), "status": "scanning"}
    elif _has_pending_files(session, dataset_id):
        return False  # the last batches are another process's: it says when all are done
    else:
        progress = {"status": "ready"}
    session.execute(update(Dataset).where(Dataset.id == dataset_id).values(**progress))
    return bool(files)


def dataset_problems(session: Session, dataset_id: int, limit: int = 200) -> list[DatasetProblem]:
    return list(session.scalars(select(DatasetProblem)
                                .where(DatasetProblem.dataset_id == dataset_id)
                                .order_by(DatasetProblem.id).limit(limit)))


def count_problems(session: Session, dataset_id: int) -> int:
    return session.scalar(select(func.count()).select_from(DatasetProblem)
                          .where(DatasetProblem.dataset_id == dataset_id)) or 0


def _dataset_at(session: Session, kind: str, location: str) -> Optional[int]:
    return session.scalar(select(Dataset.id).where(Dataset.source_kind == kind,
                                                   Dataset.location == location))


def free_name(session: Session, wanted: str) -> str:
    """``wanted``, or ``wanted (2)``, ``(3)``... when a data set has that name already."""
    name, number = wanted, 1
    while session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        number += 1
        name = f"{wanted} ({number})"
    return name


def ensure_directory_dataset(session_factory: sessionmaker[Session], settings: Settings,
                             folder: Path, name: Optional[str] = None) -> int:
    """The id of the data set of ``folder``, registering it first if it is new."""
    location = str(check_inside_roots(Path(folder), settings.data_roots))
    with session_factory() as session:
        if (existing := _dataset_at(session, "directory", location)) is not None:
            return existing
        name = free_name(session, name or Path(location).name or location)
    return register_dataset(session_factory, settings.data_roots, name, "directory",
                            location).id


def ensure_demo_dataset(session_factory: sessionmaker[Session], settings: Settings,
                        n_images: int = 600) -> int:
    """The id of the demo data set, generating its images in ``$BEAMLABEL_HOME/demo`` first."""
    folder = settings.demo_dir
    if not (folder / "truth.csv").exists():
        generate_demo(folder, n_images=n_images)
    return ensure_directory_dataset(session_factory, settings, folder, name="demo")


@dataclass(frozen=True)
class DatasetSummary:
    id: int
    name: str
    source_kind: str
    location: str
    status: str
    scanned_files: int
    total_files: int
    item_count: int
    labeled_count: int
    problem_count: int
    problems: tuple[DatasetProblem, ...]
    created_at: datetime
    live: bool = False


def _counts_by_dataset(session: Session, column) -> dict[int, int]:
    table = column.class_
    return dict(session.execute(select(column, func.count()).select_from(table)
                                .group_by(column)).all())


def dataset_summaries(session: Session, dataset_id: Optional[int] = None,
                      problems_shown: int = 20) -> list[DatasetSummary]:
    """Every data set (or one) with its item, label and problem counts; the API's tables too."""
    query = select(Dataset).order_by(Dataset.id)
    if dataset_id is not None:
        query = query.where(Dataset.id == dataset_id)
    datasets = session.scalars(query).all()
    labeled = _counts_by_dataset(session, CurrentLabel.dataset_id)
    problems = _counts_by_dataset(session, DatasetProblem.dataset_id)
    return [DatasetSummary(
        id=d.id, name=d.name, source_kind=d.source_kind, location=d.location, status=d.status,
        scanned_files=d.scanned_files, total_files=d.total_files,
        item_count=d.item_count, labeled_count=labeled.get(d.id, 0),
        problem_count=problems.get(d.id, 0),
        problems=tuple(dataset_problems(session, d.id, problems_shown)) if problems.get(d.id)
        else (), created_at=d.created_at, live=d.live) for d in datasets]
