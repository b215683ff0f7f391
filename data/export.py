"""Exports of a data set's current labels: CSV, JSON, and a ZIP of the labeled images.

Every export is a generator that hands out pieces as it goes, so a download of a million
labels or of many gigabytes of images never holds the data set in memory. CSV and JSON read
the labels from one streaming cursor, a block of plain rows at a time, and format what the
rows of a block share (a class name, an event's tagger and time) once; the ZIP, whose time
goes into reading files, reads a page of labels at a time, each page in its own session.
"""
from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, Optional

import tifffile
from sqlalchemy.orm import Session, sessionmaker

from data.catalog import shown_location
from data.sources.base import DataSource, SourceError, UnreadableImage
from db.labels import list_labels
from db.store import (LabeledItem, LabeledRow, event_stamps, get_dataset, label_counts,
                      labeled_items, labeled_rows)

PAGE_ROWS = 5_000  # labels read at a time; a block's events are looked up in one IN list
COPY_CHUNK = 1 << 20  # bytes read from an original file at a time
CSV_COLUMNS = ("uri", "label", "tagger", "event_id", "time")
LABELS_MEMBER = "labels.csv"
PROBLEMS_MEMBER = "problems.txt"
_READ_ERRORS = (OSError, SourceError, UnreadableImage)

SessionFactory = sessionmaker[Session]


def _iso(time: datetime) -> str:
    return time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _pages(session_factory: SessionFactory, dataset_id: int) -> Iterator[list[LabeledItem]]:
    after = None
    while True:
        with session_factory() as session:
            page = labeled_items(session, dataset_id, after, PAGE_ROWS)
        if page:
            yield page
        if len(page) < PAGE_ROWS:
            return
        after = page[-1].sort_key


def _label_names(session: Session, dataset_id: int) -> dict[int, str]:
    """Every class's name by id, deleted ones too, in display order."""
    get_dataset(session, dataset_id)
    return {label.id: label.name
            for label in list_labels(session, dataset_id, include_archived=True)}


# A cell starting with one of these is a formula to a spreadsheet (a label named
# "=HYPERLINK(...)" would run when the export is opened): such cells get a leading "'",
# which spreadsheets hide and the label import removes.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell):
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def from_spreadsheet_safe(cell: str) -> str:
    """A cell as it was before ``spreadsheet_safe``."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def _csv_text(rows: Iterable[Iterable]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(
        [spreadsheet_safe(cell) for cell in row] for row in rows)
    return text.getvalue()


# A value that csv.writer would quote, or that spreadsheet_safe would change.
_CELL_NEEDS_CARE = re.compile(
    "[" + re.escape(',"\r\n') + "]|^[" + re.escape("".join(FORMULA_STARTS)) + "]")


def _csv_cell(value: str) -> str:
    """``value`` as a cell of a CSV row (not its only cell) that ``_csv_text`` writes."""
    if _CELL_NEEDS_CARE.search(value):
        return _csv_text([(value, "")])[:-2]
    return value


def _blocks(session: Session, dataset_id: int
            ) -> Iterator[tuple[list[LabeledRow], dict[int, tuple[str, str]]]]:
    """The labeled rows in file order a block at a time, each block with the tagger and
    the time (ISO 8601, UTC) of its rows' events: formatted once per event, not per row."""
    for rows in labeled_rows(session, dataset_id, PAGE_ROWS):
        events = event_stamps(session, {event_id for _, _, event_id, _ in rows})
        yield rows, {event_id: (tagger, _iso(time)) for event_id, (tagger, time) in events.items()}


def export_csv(session_factory: SessionFactory, dataset_id: int) -> Iterator[str]:
    """``uri,label,tagger,event_id,time`` of every labeled item in file order, a block of
    rows per piece; ``time`` is when the label was given (ISO 8601, UTC)."""
    with session_factory() as session:
        labels = {label_id: "," + _csv_cell(name)
                  for label_id, name in _label_names(session, dataset_id).items()}
        yield _csv_text([CSV_COLUMNS])
        for rows, events in _blocks(session, dataset_id):
            line_ends = {event_id: "," + _csv_text([(tagger, event_id, time)])
                         for event_id, (tagger, time) in events.items()}
            yield "".join([_csv_cell(uri) + labels[label_id] + line_ends[event_id]
                           for uri, label_id, event_id, _ in rows])


_JSON = json.JSONEncoder()  # json.dumps' own encoder, without its per-call set-up


def _json_number(value: Optional[float]) -> str:
    # json.dumps writes a finite number as its repr (the store keeps confidences in 0..1)
    return "null" if value is None else repr(value)


def _json_head(session_factory: SessionFactory, dataset_id: int) -> dict:
    with session_factory() as session:
        dataset = get_dataset(session, dataset_id)
        counts = label_counts(session, dataset_id)
        labels = list_labels(session, dataset_id)
        return {
            "dataset": {"id": dataset.id, "name": dataset.name,
                        "source": {"kind": dataset.source_kind,
                                   "location": shown_location(dataset.source_kind,
                                                              dataset.location)},
                        "item_count": counts.total, "labeled_count": counts.labeled,
                        "exported_at": _iso(datetime.now(timezone.utc))},
            "labels": [{"id": label.id, "name": label.name, "color": label.color}
                       for label in labels]}


def export_json(session_factory: SessionFactory, dataset_id: int) -> Iterator[str]:
    """One JSON document ``{"dataset", "labels", "items"}``, handed out a block of items
    at a time; ``items`` are the labeled items in file order."""
    head = _json_head(session_factory, dataset_id)
    yield (f'{{"dataset": {json.dumps(head["dataset"])}, '
           f'"labels": {json.dumps(head["labels"])}, "items": [')
    with session_factory() as session:
        # An item's keys as json.dumps writes them, the ones that rows share made once.
        labels = {label_id: json.dumps({"label": name})[1:-1]
                  for label_id, name in _label_names(session, dataset_id).items()}
        separator = ""
        for rows, events in _blocks(session, dataset_id):
            stamps = {event_id: json.dumps({"tagger": tagger, "event_id": event_id,
                                            "time": time})[1:-1]
                      for event_id, (tagger, time) in events.items()}
            items = ",".join([f'{{"uri": {_JSON.encode(uri)}, {labels[label_id]}, '
                              f'{stamps[event_id]}, "confidence": {_json_number(confidence)}}}'
                              for uri, label_id, event_id, confidence in rows])
            yield separator + items
            separator = ","
    yield "]}"


# --- ZIP ----------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^\w\-. ]+")
# Names Windows refuses for a file or folder, whatever the suffix.
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def safe_name(name: str, fallback: str = "label") -> str:
    """``name`` as a file or folder name that every system accepts."""
    safe = _UNSAFE.sub("_", name).strip(" .")
    if safe.split(".")[0].lower() in _WINDOWS_RESERVED:
        safe = f"_{safe}"
    return safe or fallback


def label_folders(names: dict[int, str]) -> dict[int, str]:
    """A folder per class: a safe form of its name, made unique (ignoring case, as
    Windows and macOS do) by adding the class id."""
    used = {LABELS_MEMBER, PROBLEMS_MEMBER}
    folders = {}
    for label_id, name in names.items():
        base = safe_name(name)
        candidates = [base, f"{base}_{label_id}"] + [f"{base}_{label_id}_{n}" for n in
                                                     range(2, len(names) + 3)]
        folders[label_id] = next(c for c in candidates if c.lower() not in used)
        used.add(folders[label_id].lower())
    return folders


def _member_path(path: str) -> str:
    """``path`` inside the ZIP: no absolute paths and no '..' (it must extract in place)."""
    parts = [part for part in path.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    return "/".join(parts)


class _Pipe:
    """The file zipfile writes into; the export generator drains it after every write.

    It has no ``seek`` or ``tell``, so zipfile streams: each member's sizes and checksum
    follow its data instead of being written back into its header.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            yield data


@dataclass
class _Member:
    info: zipfile.ZipInfo
    chunks: Iterable[bytes]


def _new_info(name: str, compress: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, datetime.now().timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    return info


def _write(archive: zipfile.ZipFile, pipe: _Pipe, member: _Member) -> Iterator[bytes]:
    with archive.open(member.info, "w", force_zip64=True) as target:
        for chunk in member.chunks:
            target.write(chunk)
            yield from pipe.drain()
    yield from pipe.drain()


def _file_chunks(handle) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(COPY_CHUNK):
            yield chunk


def _tiff_bytes(values) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, values, photometric="minisblack")
    return buffer.getvalue()


def _item_member(source: DataSource, folder: str, row: LabeledItem) -> _Member:
    """The original file for frame 0 of a folder's file, else the frame's values as a TIFF.

    Opens (or reads) the file before the member starts, so a missing file leaves no trace
    in the ZIP.
    """
    if source.kind == "directory" and row.frame == 0:
        path = source.file_path(row.path)
        info = zipfile.ZipInfo.from_file(path, f"{folder}/{_member_path(row.path)}",
                                         strict_timestamps=False)
        return _Member(info, _file_chunks(open(path, "rb")))
    values = source.read(row.path, row.frame)
    info = _new_info(f"{folder}/{_member_path(row.path)}__frame{row.frame}.tif", compress=False)
    return _Member(info, [_tiff_bytes(values)])


def _reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "file not found; it was moved or deleted after the data set was registered"
    if isinstance(error, OSError):
        return f"cannot read the file ({error.strerror or error})"
    return str(error)


class _Problems:
    """The items left out of the ZIP, kept in a temporary file once they grow large."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=1 << 20)
        self.count = 0

    def add(self, uri: str, reason: str) -> None:
        self._file.write(f"{uri}\t{reason}\n".encode())
        self.count += 1

    def member(self) -> _Member:
        self._file.seek(0)
        head = (f"{self.count} labeled item(s) could not be read and are not in this ZIP "
                "(uri, tab, reason):\n").encode()
        return _Member(_new_info(PROBLEMS_MEMBER, compress=True),
                       [head, *iter(lambda: self._file.read(COPY_CHUNK), b"")])

    def close(self) -> None:
        self._file.close()


def _write_item(archive: zipfile.ZipFile, pipe: _Pipe, source: DataSource, folder: str,
                row: LabeledItem, problems: _Problems) -> Iterator[bytes]:
    try:
        member = _item_member(source, folder, row)
    except _READ_ERRORS as error:
        problems.add(row.uri, _reason(error))
        return
    try:
        yield from _write(archive, pipe, member)
    except OSError as error:  # the file changed or went away while it was copied
        problems.add(row.uri, f"{_reason(error)}; its copy in the ZIP is incomplete")


def export_zip(session_factory: SessionFactory, dataset_id: int,
               source: DataSource) -> Iterator[bytes]:
    """A ZIP built while it is sent: ``labels.csv``, then a folder per label holding its
    images (original files byte for byte from folders; frames after the first of a file,
    and Tiled items, as ``<path>__frame<N>.tif`` with the raw values), then
    ``problems.txt`` listing the items that could not be read, if any."""
    with session_factory() as session:
        folders = label_folders(_label_names(session, dataset_id))
    pipe, problems = _Pipe(), _Problems()
    try:
        with zipfile.ZipFile(pipe, "w", allowZip64=True) as archive:
            csv_chunks = (text.encode() for text in export_csv(session_factory, dataset_id))
            yield from _write(archive, pipe, _Member(_new_info(LABELS_MEMBER, compress=True),
                                                     csv_chunks))
            for page in _pages(session_factory, dataset_id):
                for row in page:
                    yield from _write_item(archive, pipe, source, folders[row.label_id], row,
                                           problems)
            if problems.count:
                yield from _write(archive, pipe, problems.member())
        yield from pipe.drain()  # the central directory, written when the archive closed
    finally:
        problems.close()


@dataclass(frozen=True)
class ExportFormat:
    media_type: str
    suffix: str
    write: Callable[[SessionFactory, int, Optional[DataSource]], Iterator]
    needs_source: bool = False


def _labels_only(export: Callable[[SessionFactory, int], Iterator]):
    return lambda session_factory, dataset_id, _source: export(session_factory, dataset_id)


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("text/csv", "csv", _labels_only(export_csv)),
    "json": ExportFormat("application/json", "json", _labels_only(export_json)),
    "zip": ExportFormat("application/zip", "zip", export_zip, needs_source=True),
}
