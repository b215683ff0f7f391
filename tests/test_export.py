"""Exports (CSV, JSON, ZIP) and the CSV import, on SQLite and PostgreSQL with real files."""
from __future__ import annotations

import csv
import io
import json
import tracemalloc
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from sqlalchemy import event as sa_event
from sqlalchemy import select

import data.export
from data.catalog import insert_items, register_dataset, scan_dataset, source_of
from data.export import (CSV_COLUMNS, export_csv, export_json, export_zip, label_folders, safe_name,
                         spreadsheet_safe)
from data.label_import import import_labels_csv
from data.sources.base import Listing
from data.sources.tiled import TiledSource
from db.labels import create_label, delete_label, list_labels
from db.models import CurrentLabel, Dataset, Item, LabelClass, TaggingEvent, as_utc
from db.session import transaction
from db.store import TagIn, apply_event, current_labels, items_page
from db.undo import undo_event
from errors import DomainError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """4 PNGs (one in a subfolder), a 3-frame uint16 TIFF and a float32 TIFF."""
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.png", "c.png", "sub/d.png"):
        Image.fromarray(rng.integers(0, 255, (12, 16), dtype=np.uint8)).save(folder / name)
    tifffile.imwrite(folder / "stack.tif", rng.integers(0, 65535, (3, 10, 8), dtype=np.uint16),
                     photometric="minisblack")
    tifffile.imwrite(folder / "float.tif", rng.random((9, 7), dtype=np.float32))
    return folder


def register(session_factory, folder: Path, name: str = "beam") -> int:
    dataset = register_dataset(session_factory, [folder.parent], name, "directory", str(folder))
    scan_dataset(session_factory, dataset.id)
    return dataset.id


def item_ids(session_factory, dataset_id) -> dict[str, int]:
    with session_factory() as session:
        return {row.uri: row.id for row in items_page(session, dataset_id, limit=1000)}


@pytest.fixture
def labeled(session_factory, folder):
    """The folder registered and labeled: ring (3 items), 'peak/halo' (2), unused 'empty'."""
    dataset_id = register(session_factory, folder)
    ids = item_ids(session_factory, dataset_id)
    with transaction(session_factory) as session:
        ring = create_label(session, dataset_id, "ring").id
        peak = create_label(session, dataset_id, "peak/halo", color="#123456").id
        create_label(session, dataset_id, "empty")
        first = apply_event(session, dataset_id, "ana", "manual", [
            TagIn(ids["a.png"], ring), TagIn(ids["stack.tif#frame=1"], ring),
            TagIn(ids["sub/d.png"], peak), TagIn(ids["c.png"], ring)]).id
        second = apply_event(session, dataset_id, "model", "probability", [
            TagIn(ids["c.png"], peak, 0.75), TagIn(ids["float.tif"], ring, 0.5)]).id
    return dataset_id, ids, {"ring": ring, "peak/halo": peak}, (first, second)


EXPECTED = [  # (uri, label, tagger, event index) in file order
    ("a.png", "ring", "ana", 0), ("c.png", "peak/halo", "model", 1),
    ("float.tif", "ring", "model", 1), ("stack.tif#frame=1", "ring", "ana", 0),
    ("sub/d.png", "peak/halo", "ana", 0)]


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00")


def check_recent(text: str) -> None:
    assert abs(datetime.now(timezone.utc) - parse_time(text)) < timedelta(minutes=5)


# --- CSV and JSON -------------------------------------------------------------------------

@pytest.mark.parametrize("page_rows", [5_000, 2])
def test_csv_export(session_factory, labeled, monkeypatch, page_rows):
    monkeypatch.setattr(data.export, "PAGE_ROWS", page_rows)
    dataset_id, _, _, events = labeled
    pieces = list(export_csv(session_factory, dataset_id))
    assert len(pieces) == 1 + -(-len(EXPECTED) // page_rows)  # header, then a piece per page
    rows = list(csv.reader(io.StringIO("".join(pieces))))
    assert rows[0] == ["uri", "label", "tagger", "event_id", "time"]
    assert [(uri, label, tagger, int(event)) for uri, label, tagger, event, _ in rows[1:]] == \
        [(uri, label, tagger, events[i]) for uri, label, tagger, i in EXPECTED]
    for row in rows[1:]:
        check_recent(row[4])


@pytest.mark.parametrize("page_rows", [5_000, 2])
def test_json_export(session_factory, labeled, monkeypatch, page_rows):
    monkeypatch.setattr(data.export, "PAGE_ROWS", page_rows)
    dataset_id, _, labels, events = labeled
    document = json.loads("".join(export_json(session_factory, dataset_id)))
    assert set(document) == {"dataset", "labels", "items"}
    info = document["dataset"]
    assert (info["id"], info["name"], info["item_count"], info["labeled_count"]) == \
        (dataset_id, "beam", 8, 5)
    assert info["source"]["kind"] == "directory"
    check_recent(info["exported_at"])
    assert document["labels"] == [
        {"id": labels["ring"], "name": "ring", "color": "#E69F00"},
        {"id": labels["peak/halo"], "name": "peak/halo", "color": "#123456"},
        {"id": labels["peak/halo"] + 1, "name": "empty", "color": "#56B4E9"}]
    items = document["items"]
    assert [(i["uri"], i["label"], i["tagger"], i["event_id"]) for i in items] == \
        [(uri, label, tagger, events[n]) for uri, label, tagger, n in EXPECTED]
    assert [i["confidence"] for i in items] == [None, 0.75, 0.5, None, None]
    check_recent(items[0]["time"])


def test_exports_of_a_data_set_without_labels(session_factory, folder):
    dataset_id = register(session_factory, folder)
    assert "".join(export_csv(session_factory, dataset_id)) == "uri,label,tagger,event_id,time\n"
    document = json.loads("".join(export_json(session_factory, dataset_id)))
    assert (document["labels"], document["items"]) == ([], [])
    with pytest.raises(DomainError):
        list(export_csv(session_factory, 99_999))


# --- the export against the database, row for row -----------------------------------------

ODD_PATHS = ["comma,name.png", 'quote"d.png', "line\nbreak.png", "carriage\rreturn.png",
             "=cmd.png", "+plus.png", "-minus.png", "@at.png", "\ttab.png", " space.png",
             "'quoted.png", "ünï/çødé.png", "衍射/图像.tif", "emoji 🔬.png"]
ODD_LABELS = ["=SUM(A1:A9)", "+x", "-y", "@z", 'comma, "quoted"', "Bragg peak (2θ) 衍射"]
CONFIDENCES = [None, 0.1, 1.0, 1, 1 / 3, 1e-07, 0.0, 0.999999]


@pytest.fixture
def many_labels(session_factory):
    """A data set with odd uris, labels and taggers, many events (relabels, an unlabel, one
    at a whole second), a deleted class, and one whose deletion was undone."""
    paths = ODD_PATHS + [f"run/img_{i:03d}.png" for i in range(40)]
    with transaction(session_factory) as session:
        dataset = Dataset(name="odd", source_kind="directory", location="/odd", status="ready")
        session.add(dataset)
        session.flush()
        insert_items(session, dataset.id, [Listing(path) for path in paths] +
                     [Listing("stack.tif", 3)])
        labels = [create_label(session, dataset.id, name).id for name in ODD_LABELS]
        old = create_label(session, dataset.id, "old class").id
    ids = list(item_ids(session_factory, dataset.id).values())
    with transaction(session_factory) as session:
        apply_event(session, dataset.id, "ana", "manual",
                    [TagIn(item, labels[n % len(labels)]) for n, item in enumerate(ids)])
        apply_event(session, dataset.id, "@model", "probability",
                    [TagIn(item, labels[n % 2], CONFIDENCES[n % len(CONFIDENCES)])
                     for n, item in enumerate(ids[::3])])
        for n, item in enumerate(ids[5:9]):
            whole_second = apply_event(session, dataset.id, "José =1", "manual",
                                       [TagIn(item, labels[n])])
        whole_second.created_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        apply_event(session, dataset.id, "ana", "manual", [TagIn(i, None) for i in ids[10:13]])
        apply_event(session, dataset.id, "ana", "manual", [TagIn(i, old) for i in ids[-2:]])
        delete_label(session, dataset.id, old, "ana", confirm=True)  # unlabels its 2 items
        deletion = delete_label(session, dataset.id, labels[-1], "ana", confirm=True)
        undo_event(session, deletion.id, "ana")  # the class and its labels come back
    return dataset.id


def database_rows(session_factory, dataset_id) -> list[tuple]:
    """(uri, label, tagger, event id, time, confidence) of each labeled item in file order,
    read with the ORM and formatted one row at a time, as the export did before it
    streamed."""
    with session_factory() as session:
        rows = session.execute(
            select(Item.uri, LabelClass.name, TaggingEvent.tagger, TaggingEvent.id,
                   TaggingEvent.created_at, CurrentLabel.confidence)
            .join(CurrentLabel, CurrentLabel.item_id == Item.id)
            .join(LabelClass, LabelClass.id == CurrentLabel.label_id)
            .join(TaggingEvent, TaggingEvent.id == CurrentLabel.event_id)
            .where(Item.dataset_id == dataset_id).order_by(Item.sort_key)).all()
    return [(uri, label, tagger, event_id,
             as_utc(time).astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
             confidence) for uri, label, tagger, event_id, time, confidence in rows]


@pytest.mark.parametrize("page_rows", [7, 5_000])
def test_export_matches_the_database_row_for_row(
        session_factory, many_labels, monkeypatch, page_rows):
    monkeypatch.setattr(data.export, "PAGE_ROWS", page_rows)
    rows = database_rows(session_factory, many_labels)
    assert len(rows) == 57 - 3 - 2  # every item but those unlabeled and deleted
    assert {row[1] for row in rows} == set(ODD_LABELS)
    assert "2026-01-02T03:04:05Z" in {row[4] for row in rows}
    assert {type(row[5]) for row in rows} == {type(None), float}

    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(
        [[spreadsheet_safe(cell) for cell in row[:5]] for row in [CSV_COLUMNS, *rows]])
    pieces = list(export_csv(session_factory, many_labels))
    assert "".join(pieces) == text.getvalue()
    assert len(pieces) == 1 + -(-len(rows) // page_rows)

    items = ",".join(json.dumps({"uri": uri, "label": label, "tagger": tagger,
                                 "event_id": event_id, "time": time, "confidence": confidence})
                     for uri, label, tagger, event_id, time, confidence in rows)
    document = "".join(export_json(session_factory, many_labels))
    assert document.endswith(f', "items": [{items}]}}')
    assert [item["uri"] for item in json.loads(document)["items"]] == [row[0] for row in rows]


# --- ZIP ----------------------------------------------------------------------------------

def zip_of(session_factory, dataset_id) -> tuple[zipfile.ZipFile, list[bytes]]:
    with session_factory() as session:
        source = source_of(session.get(Dataset, dataset_id))
    pieces = list(export_zip(session_factory, dataset_id, source))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(pieces)))
    assert archive.testzip() is None
    return archive, pieces


def test_zip_export(session_factory, labeled, folder):
    dataset_id, _, _, _ = labeled
    (folder / "sub" / "d.png").unlink()  # gone after registration: a problem, not a failure
    archive, pieces = zip_of(session_factory, dataset_id)
    assert len(pieces) > 5  # handed out while it was made
    assert archive.namelist() == [
        "labels.csv", "ring/a.png", "peak_halo/c.png", "ring/float.tif",
        "ring/stack.tif__frame1.tif", "problems.txt"]
    for name in ("a.png", "float.tif"):
        assert archive.read(f"ring/{name}") == (folder / name).read_bytes()
    assert archive.read("peak_halo/c.png") == (folder / "c.png").read_bytes()

    frame = tifffile.imread(io.BytesIO(archive.read("ring/stack.tif__frame1.tif")))
    original = tifffile.imread(folder / "stack.tif")[1]
    assert frame.dtype == np.uint16 and np.array_equal(frame, original)

    assert archive.read("labels.csv").decode() == "".join(export_csv(session_factory, dataset_id))
    problems = archive.read("problems.txt").decode().splitlines()
    assert problems[0].startswith("1 labeled item")
    assert problems[1].startswith("sub/d.png\t") and "not found" in problems[1]


def test_label_folder_names_are_safe_and_distinct():
    folders = label_folders({1: "ring", 2: "Ring", 3: "a/b", 4: "a_b", 5: "../..", 6: "CON",
                             7: "labels.csv", 8: " spaced. ", 9: "Bragg peak (2θ)"})
    assert folders == {1: "ring", 2: "Ring_2", 3: "a_b", 4: "a_b_4", 5: "_", 6: "_CON",
                       7: "labels.csv_7", 8: "spaced", 9: "Bragg peak _2θ_"}
    assert safe_name("...") == "label"


def test_zip_export_of_tiled_items(session_factory, tiled_server):
    root = tiled_server.new_container("export")
    stack = np.arange(3 * 6 * 5, dtype=np.float32).reshape(3, 6, 5)
    tiled_server.write_array(f"{root}/scan/stack", stack)
    tiled_server.write_array(f"{root}/scan/single", np.full((4, 4), 7, np.int16))
    source = TiledSource(tiled_server.metadata_uri(root), api_key=tiled_server.api_key)
    with transaction(session_factory) as session:
        dataset = Dataset(name="remote", source_kind="tiled", location=source.location,
                          api_key=source.api_key, status="ready")
        session.add(dataset)
        session.flush()
        insert_items(session, dataset.id, [Listing("scan/single", 1), Listing("scan/stack", 3)])
        ring = create_label(session, dataset.id, "ring").id
    ids = item_ids(session_factory, dataset.id)
    with transaction(session_factory) as session:
        apply_event(session, dataset.id, "ana", "manual",
                    [TagIn(ids["scan/single"], ring), TagIn(ids["scan/stack#frame=2"], ring)])
    archive, _ = zip_of(session_factory, dataset.id)
    assert archive.namelist() == ["labels.csv", "ring/scan/single__frame0.tif",
                                  "ring/scan/stack__frame2.tif"]
    single = tifffile.imread(io.BytesIO(archive.read("ring/scan/single__frame0.tif")))
    assert single.dtype == np.int16 and (single == 7).all()
    frame = tifffile.imread(io.BytesIO(archive.read("ring/scan/stack__frame2.tif")))
    assert frame.dtype == np.float32 and np.array_equal(frame, stack[2])


def test_zip_export_memory_stays_bounded(session_factory, tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(2)
    n_files, shape = 40, (768, 1024)  # 1.5 MB per file, 60 MB in all
    for i in range(n_files):
        tifffile.imwrite(folder / f"img_{i:03d}.tif",
                         rng.integers(0, 65535, shape, dtype=np.uint16))
    total = sum(path.stat().st_size for path in folder.iterdir())
    dataset_id = register(session_factory, folder, "big")
    ids = item_ids(session_factory, dataset_id)
    with transaction(session_factory) as session:
        ring = create_label(session, dataset_id, "ring").id
        apply_event(session, dataset_id, "ana", "manual", [TagIn(i, ring) for i in ids.values()])
    with session_factory() as session:
        source = source_of(session.get(Dataset, dataset_id))

    tracemalloc.start()
    try:
        size = 0
        for piece in export_zip(session_factory, dataset_id, source):
            size += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size > total
    assert peak < total / 10, f"peak allocation {peak:,} bytes for a {total:,}-byte export"


# --- import -------------------------------------------------------------------------------

def labels_now(session_factory, dataset_id) -> dict[str, str]:
    with session_factory() as session:
        names = {label.id: label.name
                 for label in list_labels(session, dataset_id, include_archived=True)}
        return {uri: names[label] for _, uri, label, _, _ in current_labels(session, dataset_id)}


def run_import(session_factory, dataset_id, text, **kwargs):
    with transaction(session_factory) as session:
        return import_labels_csv(session, dataset_id, text, "importer", **kwargs)


def test_import_reports_unknown_uris_and_labels(session_factory, labeled):
    dataset_id, _, _, _ = labeled
    text = ("\ufeffURI, label ,note\n"
            "b.png,ring,new\n"
            "a.png,,unlabel it\n"
            "nowhere.png,ring,\n"
            "stack.tif#frame=2,streak,unknown label\n"
            "\n"
            "b.png,peak/halo,the last row of an item wins\n"
            ",ring,no uri\n"
            "float.tif,ring\n")
    report = run_import(session_factory, dataset_id, text)
    assert (report.n_tags, report.file_rows, report.skipped_rows) == (3, 7, 4)
    assert (report.unknown_uris, report.unknown_uri_count) == (["nowhere.png"], 1)
    assert (report.unknown_labels, report.created_labels) == (["streak"], [])
    assert labels_now(session_factory, dataset_id) == {
        "b.png": "peak/halo", "c.png": "peak/halo", "float.tif": "ring",
        "stack.tif#frame=1": "ring", "sub/d.png": "peak/halo"}
    with session_factory() as session:
        event = session.get(TaggingEvent, report.event_id)
        assert (event.method, event.tagger, event.n_tags) == ("import", "importer", 3)
        assert event.params == {"file_rows": 7, "unknown_uris": 1, "unknown_labels": 1,
                                "created_labels": []}

    report = run_import(session_factory, dataset_id, text, create_missing_labels=True)
    assert (report.n_tags, report.created_labels) == (4, ["streak"])
    assert labels_now(session_factory, dataset_id)["stack.tif#frame=2"] == "streak"


def test_import_lists_the_first_hundred_unknown_uris(session_factory, labeled):
    dataset_id, _, _, _ = labeled
    rows = [f"missing_{i:04d}.png,ring" for i in range(250)] + ["a.png,peak/halo"]
    report = run_import(session_factory, dataset_id, "uri,label\n" + "\n".join(rows))
    assert report.unknown_uri_count == 250 and report.n_tags == 1
    assert report.unknown_uris == [f"missing_{i:04d}.png" for i in range(100)]


def test_export_then_import_round_trip(session_factory, labeled, folder):
    dataset_id, _, _, _ = labeled
    exported = "".join(export_csv(session_factory, dataset_id))
    copy_id = register(session_factory, folder, "copy")
    with transaction(session_factory) as session:
        for name in ("ring", "peak/halo"):
            create_label(session, copy_id, name)
    report = run_import(session_factory, copy_id, exported)
    assert report.n_tags == len(EXPECTED) and report.skipped_rows == 0
    assert labels_now(session_factory, copy_id) == labels_now(session_factory, dataset_id)


@pytest.mark.parametrize("text, create, words", [
    ("", False, "empty"),
    ("path,class\na.png,ring\n", False, "uri and label"),
    ("uri\na.png\n", False, "uri and label"),
    ("uri,label\n", False, "no row"),
    ("uri,label\nnowhere.png,ring\nalso/missing.png,ring\n", True, "none of the 2 URIs"),
    ("uri,label\na.png,streak\nb.png,halo\n", False, "create_missing_labels"),
    ('uri,label\n"a.png,ring\n', False, "quoting"),
])
def test_bad_csv_is_refused_and_writes_nothing(session_factory, labeled, text, create, words):
    dataset_id, _, _, _ = labeled
    before = labels_now(session_factory, dataset_id)
    with pytest.raises(DomainError) as raised:
        run_import(session_factory, dataset_id, text, create_missing_labels=create)
    assert raised.value.field == "csv" and words in str(raised.value), str(raised.value)
    assert labels_now(session_factory, dataset_id) == before
    with session_factory() as session:
        assert session.query(TaggingEvent).count() == 2
        assert session.query(LabelClass).count() == 3


def test_import_refuses_an_empty_tagger_and_creates_no_label(session_factory, labeled):
    dataset_id, _, _, _ = labeled
    with pytest.raises(DomainError) as raised, transaction(session_factory) as session:
        import_labels_csv(session, dataset_id, "uri,label\na.png,streak\n", " ",
                          create_missing_labels=True)
    assert raised.value.field == "tagger"
    with session_factory() as session:
        assert session.query(LabelClass).count() == 3


def test_import_looks_up_uris_in_few_queries(session_factory):
    n_items = 12_000
    with transaction(session_factory) as session:
        dataset = Dataset(name="many", source_kind="directory", location="/x", status="ready")
        session.add(dataset)
        session.flush()
        insert_items(session, dataset.id, [Listing(f"f_{i:05d}.tif") for i in range(n_items)])
        create_label(session, dataset.id, "ring")
    rows = [f"f_{i:05d}.tif,ring" for i in range(n_items)] + \
        [f"gone_{i}.tif,ring" for i in range(3_000)]
    statements: list[str] = []
    engine = session_factory.kw["bind"]

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        report = run_import(session_factory, dataset.id, "uri,label\n" + "\n".join(rows))
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert (report.n_tags, report.unknown_uri_count) == (n_items, 3_000)
    lookups = [s for s in statements if "FROM items" in s and ("IN (" in s or "ANY (" in s)]
    assert 1 <= len(lookups) <= 4 and len(statements) < 40, len(statements)


def test_formula_like_cells_are_exported_inert_and_imported_back(
        session_factory, labeled, folder):
    dataset_id, ids, _, _ = labeled
    with transaction(session_factory) as session:
        formula = create_label(session, dataset_id, '=HYPERLINK("http://x","y")').id
        apply_event(session, dataset_id, "@ana", "manual", [TagIn(ids["a.png"], formula)])
    exported = "".join(export_csv(session_factory, dataset_id))
    cells = [cell for line in exported.splitlines() for cell in line.split(",")]
    assert not any(cell.lstrip('"').startswith(("=", "+", "-", "@")) for cell in cells)
    assert "'=HYPERLINK" in exported and ",'@ana," in exported
    copy_id = register(session_factory, folder, "copy")
    with transaction(session_factory) as session:
        for name in ("ring", "peak/halo", '=HYPERLINK("http://x","y")'):
            create_label(session, copy_id, name)
    run_import(session_factory, copy_id, exported)
    assert labels_now(session_factory, copy_id) == labels_now(session_factory, dataset_id)
