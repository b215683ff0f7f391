"""Registering data sets: a cheap listing first, then a header scan in the background.

Registration only lists files (no file is opened), so 100,000 files register in
seconds; ``scan_dataset`` then reads each header, fills in shape and dtype, adds one
item per extra frame of multi-frame files and records unreadable files as problems.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from data.sources import Listing, SourceError, UnreadableImage, item_uri, open_source
from data.sources.base import DataSource
from data.sources.directory import check_inside_roots
from db.models import Dataset, DatasetProblem, Item
from db.session import transaction
from db.store import StoreError

SCAN_BATCH = 500
_INSERT_BATCH = 20_000


def source_of(dataset: Dataset) -> DataSource:
    return open_source(dataset.source_kind, dataset.location, dataset.api_key)


def _check_location(kind: str, location: str, data_roots: Sequence[Path]) -> str:
    if kind == "directory":
        return str(check_inside_roots(Path(location), data_roots))
    return location.strip().rstrip("/")


def add_problem(session: Session, dataset_id: int, path: str, message: str,
                item_id: Optional[int] = None) -> None:
    session.add(DatasetProblem(dataset_id=dataset_id, path=path, message=message,
                               item_id=item_id))


def _item_rows(dataset_id: int, listings: Iterable[Listing]):
    for file_index, listing in enumerate(listings):
        known_frames = listing.n_frames or 1
        for frame in range(known_frames):
            yield {"dataset_id": dataset_id, "uri": item_uri(listing.path, frame),
                   "path": listing.path, "file_index": file_index, "frame": frame,
                   "status": "pending"}


def insert_items(session: Session, dataset_id: int, listings: Iterable[Listing]) -> int:
    """Bulk-insert one item per listed file (per frame where the frame count is known)."""
    count, batch = 0, []
    for row in _item_rows(dataset_id, listings):
        batch.append(row)
        if len(batch) == _INSERT_BATCH:
            session.execute(Item.__table__.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        session.execute(Item.__table__.insert(), batch)
        count += len(batch)
    return count


def register_dataset(session_factory: sessionmaker[Session], data_roots: Sequence[Path],
                     name: str, kind: str, location: str,
                     api_key: Optional[str] = None) -> Dataset:
    """Create a data set and its items from a listing; the header scan comes after."""
    name = (name or "").strip()
    if not name:
        raise StoreError("a data set needs a name", "name")
    try:
        location = _check_location(kind, location, data_roots)
        source = open_source(kind, location, api_key)
    except SourceError as error:
        raise StoreError(str(error), "source") from error
    with transaction(session_factory) as session:
        if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
            raise StoreError(f"a data set named '{name}' exists already; pick another name",
                             "name", status=409)
        dataset = Dataset(name=name, source_kind=kind, location=location, api_key=api_key,
                          status="scanning")
        session.add(dataset)
        session.flush()
        problems: list[tuple[str, str]] = []
        try:
            listings = list(source.list_items(lambda path, msg: problems.append((path, msg))))
        except SourceError as error:
            raise StoreError(str(error), "source") from error
        if not listings:
            raise StoreError(f"no images (PNG, JPEG, TIFF or Tiled arrays) found in {location}",
                             "source")
        insert_items(session, dataset.id, listings)
        for path, message in problems:
            add_problem(session, dataset.id, path, message)
        dataset.total_files = len(listings)
    return dataset


def _pending_files(session: Session, dataset_id: int) -> list[Item]:
    return list(session.scalars(
        select(Item).where(Item.dataset_id == dataset_id, Item.status == "pending",
                           Item.frame == 0)
        .order_by(Item.file_index).limit(SCAN_BATCH)))


def _record_info(session: Session, source: DataSource, item: Item) -> None:
    try:
        info = source.probe(item.path)
    except (UnreadableImage, SourceError) as error:
        mark_unreadable(session, item, str(error))
        return
    frames = {"height": info.height, "width": info.width, "dtype": info.dtype, "status": "ok"}
    session.execute(update(Item).where(Item.dataset_id == item.dataset_id,
                                       Item.path == item.path).values(**frames))
    known = session.scalar(select(func.count()).select_from(Item).where(
        Item.dataset_id == item.dataset_id, Item.path == item.path)) or 0
    if info.n_frames > known:
        session.execute(Item.__table__.insert(), [
            {"dataset_id": item.dataset_id, "uri": item_uri(item.path, frame), "path": item.path,
             "file_index": item.file_index, "frame": frame, **frames}
            for frame in range(known, info.n_frames)])


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
            session.execute(update(Dataset).where(Dataset.id == dataset_id).values(
                scanned_files=Dataset.scanned_files + len(batch),
                status="scanning" if batch else "ready"))
        if not batch:
            return


def dataset_problems(session: Session, dataset_id: int, limit: int = 200) -> list[DatasetProblem]:
    return list(session.scalars(select(DatasetProblem)
                                .where(DatasetProblem.dataset_id == dataset_id)
                                .order_by(DatasetProblem.id).limit(limit)))


def count_problems(session: Session, dataset_id: int) -> int:
    return session.scalar(select(func.count()).select_from(DatasetProblem)
                          .where(DatasetProblem.dataset_id == dataset_id)) or 0
