"""Importing labels from a CSV file (``uri,label``) as one tagging event.

The CSV is what ``data.export.export_csv`` writes, or any file with a header row naming
the columns ``uri`` and ``label`` (other columns are ignored). An empty label unlabels
the item. Unknown URIs are reported, not fatal; rows with unknown label names are
skipped and reported, unless the caller asks to create the missing classes.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Iterable, Optional

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from data.export import from_spreadsheet_safe
from db.labels import create_label, list_labels
from db.models import Item
from db.store import TagIn, apply_event, get_dataset
from errors import DomainError

LISTED = 100  # unknown URIs (and label names) listed in a report; all are counted
LOOKUP_CHUNK = 5_000  # URIs per query; SQLite allows 32,766 parameters


@dataclass(frozen=True)
class ImportReport:
    event_id: int
    n_tags: int
    unknown_uris: list[str]  # the first LISTED of them
    unknown_uri_count: int
    unknown_labels: list[str]  # label names the data set lacks (rows skipped unless created)
    skipped_rows: int  # rows that wrote no tag: unknown URI or label, empty or repeated URI
    file_rows: int
    created_labels: list[str] = field(default_factory=list)


@dataclass
class _Rows:
    wanted: dict[str, Optional[str]]  # uri -> label name (None: unlabel); the last row wins
    count: int


def _read_rows(csv_text: str) -> _Rows:
    reader = csv.reader(io.StringIO(csv_text.lstrip("\ufeff")), strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DomainError("the CSV is empty; send a header row 'uri,label' and one row "
                              "per item", "csv")
        columns = [name.strip().lower() for name in header]
        if "uri" not in columns or "label" not in columns:
            raise DomainError(f"the CSV needs a header row naming the columns uri and label "
                              f"(it has: {', '.join(header)[:200]}); other columns are ignored",
                              "csv")
        uri_at, label_at = columns.index("uri"), columns.index("label")
        wanted: dict[str, Optional[str]] = {}
        count = 0
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # blank line
            count += 1
            row = [from_spreadsheet_safe(cell) for cell in row]
            uri = row[uri_at].strip() if uri_at < len(row) else ""
            if uri and label_at < len(row):
                wanted[uri] = row[label_at].strip() or None
    except csv.Error as error:
        raise DomainError(f"the CSV cannot be read at line {reader.line_num} ({error}); check "
                          "its quoting", "csv") from None
    return _Rows(wanted, count)


def _uri_in(session: Session, uris: list[str]):
    """``Item.uri IN uris``: on PostgreSQL as one array parameter, which it handles about
    four times faster than thousands of separate parameters."""
    if session.get_bind().dialect.name == "postgresql":
        return Item.uri == any_(bindparam("uris", uris, type_=ARRAY(String)))
    return Item.uri.in_(uris)


def _item_ids(session: Session, dataset_id: int, uris: Iterable[str]) -> dict[str, int]:
    """Item id by URI, for the URIs that name items of the data set; a query per chunk."""
    uris = list(uris)
    found: dict[str, int] = {}
    for start in range(0, len(uris), LOOKUP_CHUNK):
        chunk = uris[start:start + LOOKUP_CHUNK]
        found.update(session.execute(select(Item.uri, Item.id).where(
            Item.dataset_id == dataset_id, _uri_in(session, chunk))).all())
    return found


def _nothing_to_import(rows: _Rows, items: dict[str, int], unknown_labels: list[str]) -> str:
    if not rows.wanted:
        return (f"no row of the CSV has both a uri and a label column (of {rows.count:,} "
                "rows); give each row an item's URI and its label, or an empty label")
    if not items:
        example = next(iter(rows.wanted))
        return (f"none of the {len(rows.wanted):,} URIs in the CSV names an item of this data "
                f"set (e.g. '{example}'); URIs are paths inside the data set folder, as in its "
                "export")
    return (f"every row with a known URI has a label the data set lacks "
            f"({', '.join(unknown_labels[:5])}); create those labels first, or import with "
            "create_missing_labels")


def import_labels_csv(session: Session, dataset_id: int, csv_text: str, tagger: str,
                      create_missing_labels: bool = False) -> ImportReport:
    """Write the labels of a ``uri,label`` CSV as one tagging event (method ``import``).

    DomainError (field ``csv``) when the file lacks the columns or nothing in it can be
    imported; the caller's transaction then writes nothing.
    """
    get_dataset(session, dataset_id)
    rows = _read_rows(csv_text)
    items = _item_ids(session, dataset_id, rows.wanted)
    unknown_uris = [uri for uri in rows.wanted if uri not in items]
    known = {uri: name for uri, name in rows.wanted.items() if uri in items}
    label_ids = {label.name: label.id for label in list_labels(session, dataset_id)}
    unknown_labels = list(dict.fromkeys(name for name in known.values()
                                        if name is not None and name not in label_ids))
    created = unknown_labels if create_missing_labels else []
    for name in created:
        label_ids[name] = create_label(session, dataset_id, name).id
    tags = [TagIn(items[uri], None if name is None else label_ids[name])
            for uri, name in known.items() if name is None or name in label_ids]
    if not tags:
        raise DomainError(_nothing_to_import(rows, items, unknown_labels), "csv")
    params = {"file_rows": rows.count, "unknown_uris": len(unknown_uris),
              "unknown_labels": len(unknown_labels), "created_labels": created}
    event = apply_event(session, dataset_id, tagger, "import", tags, params)
    return ImportReport(event_id=event.id, n_tags=len(tags), unknown_uris=unknown_uris[:LISTED],
                        unknown_uri_count=len(unknown_uris),
                        unknown_labels=unknown_labels[:LISTED],
                        skipped_rows=rows.count - len(tags), file_rows=rows.count,
                        created_labels=created)
