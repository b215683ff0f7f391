"""Registering data sets: a cheap listing first, then a header scan in the background.

Registration only lists files (no file is opened), so 100,000 files register in
seconds; ``scan_dataset`` then reads each header, fills in shape and dtype, adds one
item per extra frame of multi-frame files and records unreadable files as problems.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional, Sequence
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from data.demo import generate_demo
from data.sources import Listing, SourceError, UnreadableImage, item_uri, open_source
from data.sources.base import DataSource, split_api_key
from data.sources.directory import check_inside_roots
from db.models import CurrentLabel, Dataset, DatasetProblem, Item, sort_key_of
from db.session import take_write_lock, transaction
from errors import DomainError
from settings import LOOPBACK_HOSTS, Settings

SCAN_BATCH = 500
# SQLite's busy handler retries a waiting writer at most every 100 ms: a scanner that began
# its next batch at once would hold the one write lock for minutes and starve every other
# writer (labels, jobs, the audit trail) past its busy timeout.
SQLITE_WRITER_GAP_SECONDS = 0.12
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


def _pending_files(session: Session, dataset_id: int) -> list[Item]:
    """The next files to scan, none of them in another process's batch: several processes
    of a server may resume one scan (PostgreSQL skips the rows others have locked; SQLite
    lets one writer at a time in), and each file is then read and counted once."""
    take_write_lock(session, dataset_id)
    return list(session.scalars(
        select(Item).where(Item.dataset_id == dataset_id, Item.status == "pending",
                           Item.frame == 0)
        .order_by(Item.file_index).limit(SCAN_BATCH).with_for_update(skip_locked=True)))


def _has_pending_files(session: Session, dataset_id: int) -> bool:
    return session.scalar(select(Item.id).where(Item.dataset_id == dataset_id, Item.frame == 0,
                                                Item.status == "pending").limit(1)) is not None


def _record_info(session: Session, source: DataSource, item: Item) -> None:
    try:
        info = source.probe(item.path)
    except (UnreadableImage, SourceError) as error:
        mark_unreadable(session, item, str(error))
        return
    frames = {"height": info.height, "width": info.width, "dtype": info.dtype, "status": "ok"}
    # The frames of one file are a range of sort keys: an index range, not a path look-up.
    of_this_file = (Item.dataset_id == item.dataset_id,
                    Item.sort_key.between(sort_key_of(item.file_index, 0),
                                          sort_key_of(item.file_index + 1, 0) - 1))
    session.execute(update(Item).where(*of_this_file).values(**frames))
    known = session.scalar(select(func.count()).select_from(Item).where(*of_this_file)) or 0
    if info.n_frames > known:
        session.execute(Item.__table__.insert(), [
            _item_row(item.dataset_id, item.path, item.file_index, frame, **frames)
            for frame in range(known, info.n_frames)])
        _count_new_items(session, item.dataset_id, info.n_frames - known)


def mark_unreadable(session: Session, item: Item, message: str) -> None:
    """Show ``item`` as 'unreadable' and list it among its data set's problems (once)."""
    if item.status == "unreadable":
        return
    item.status = "unreadable"
    add_problem(session, item.dataset_id, item.uri, message, item_id=item.id)


def scan_dataset(session_factory: sessionmaker[Session], dataset_id: int) -> None:
    """Read every pending file's header; resumable (it picks up pending items only)."""
    with session_factory() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            return
        source = source_of(dataset)
    while True:
        with transaction(session_factory) as session:
            batch = _pending_files(session, dataset_id)
            for item in batch:
                _record_info(session, source, item)
            if batch:
                progress = {"scanned_files": Dataset.scanned_files + len(batch),
                            "status": "scanning"}
            elif _has_pending_files(session, dataset_id):
                return  # the last batches are another process's: it says when all are done
            else:
                progress = {"status": "ready"}
            session.execute(update(Dataset).where(Dataset.id == dataset_id).values(**progress))
            on_sqlite = session.get_bind().dialect.name == "sqlite"
        if not batch:
            return
        if on_sqlite:
            time.sleep(SQLITE_WRITER_GAP_SECONDS)  # let the writers waiting meanwhile in


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
