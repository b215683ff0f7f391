"""Registering folders: cheap listing, background header scan, frames, problems."""
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from data.catalog import (SCAN_BATCH, count_problems, dataset_problems, dataset_summaries,
                          ensure_directory_dataset, register_dataset, scan_dataset)
from db.models import Dataset
from db.store import count_items, items_page
from errors import DomainError
from settings import Settings


def write_folder(folder: Path) -> None:
    (folder / "b").mkdir(parents=True)
    tifffile.imwrite(folder / "a.tif", np.arange(64, dtype=np.uint16).reshape(8, 8))
    tifffile.imwrite(folder / "b" / "stack.tif", np.zeros((5, 8, 8), dtype=np.float32))
    Image.fromarray(np.full((8, 8), 7, dtype=np.uint8)).save(folder / "b" / "c.png")
    (folder / "b" / "broken.tif").write_bytes(b"not a tiff at all")
    (folder / "notes.txt").write_text("not an image")


def test_register_lists_without_reading_then_scan_adds_frames_and_problems(
        session_factory, tmp_path):
    folder = tmp_path / "images"
    write_folder(folder)
    dataset = register_dataset(session_factory, [tmp_path], "run 1", "directory", str(folder))
    with session_factory() as session:
        assert [row.uri for row in items_page(session, dataset.id, limit=50)] == \
            ["a.tif", "b/broken.tif", "b/c.png", "b/stack.tif"]
        assert {row.status for row in items_page(session, dataset.id)} == {"pending"}
    scan_dataset(session_factory, dataset.id)
    with session_factory() as session:
        rows = items_page(session, dataset.id, limit=50)
        assert [(row.uri, row.status) for row in rows] == [
            ("a.tif", "ok"), ("b/broken.tif", "unreadable"), ("b/c.png", "ok"),
            ("b/stack.tif", "ok"), ("b/stack.tif#frame=1", "ok"), ("b/stack.tif#frame=2", "ok"),
            ("b/stack.tif#frame=3", "ok"), ("b/stack.tif#frame=4", "ok")]
        assert count_items(session, dataset.id) == 8
        problems = dataset_problems(session, dataset.id)
        assert [p.path for p in problems] == ["b/broken.tif"] and problems[0].message
        assert count_problems(session, dataset.id) == 1
        summary, = dataset_summaries(session, dataset.id)
        assert (summary.status, summary.item_count, summary.problem_count,
                summary.scanned_files, summary.total_files) == ("ready", 8, 1, 4, 4)
    scan_dataset(session_factory, dataset.id)  # a second scan changes nothing
    with session_factory() as session:
        assert count_items(session, dataset.id) == 8 and count_problems(session, dataset.id) == 1


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing", "does not exist"),
    (lambda tmp: Path("/etc"), "data roots"),
])
def test_bad_folders_are_refused_with_a_message(session_factory, tmp_path, make, message):
    with pytest.raises(DomainError, match=message) as raised:
        register_dataset(session_factory, [tmp_path], "x", "directory", str(make(tmp_path)))
    assert raised.value.field == "source"
    with session_factory() as session:
        assert session.query(Dataset).count() == 0


def test_empty_folder_and_duplicate_name(session_factory, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DomainError, match="no images"):
        register_dataset(session_factory, [tmp_path], "x", "directory", str(tmp_path / "empty"))
    write_folder(tmp_path / "images")
    register_dataset(session_factory, [tmp_path], "x", "directory", str(tmp_path / "images"))
    with pytest.raises(DomainError, match="exists already") as raised:
        register_dataset(session_factory, [tmp_path], "x", "directory", str(tmp_path / "images"))
    assert raised.value.status == 409


def test_ensure_directory_dataset_registers_once(session_factory, tmp_path):
    write_folder(tmp_path / "images")
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,))
    first = ensure_directory_dataset(session_factory, settings, tmp_path / "images")
    assert ensure_directory_dataset(session_factory, settings, tmp_path / "images") == first


def _scan_when_all_start(database_url, dataset_id, barrier):
    from db.session import make_engine, make_session_factory

    engine = make_engine(database_url)
    barrier.wait()
    scan_dataset(make_session_factory(engine), dataset_id)
    engine.dispose()


def test_processes_resuming_one_scan_read_each_file_once(session_factory, database_url,
                                                         tmp_path):
    """Every process of a server resumes the scans it finds half done (serve --workers 4):
    problems and counts come out exact (PostgreSQL splits the files between them; on SQLite
    a file two processes read is recorded by the first)."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2 * SCAN_BATCH + 7):
        Image.fromarray(np.full((8, 8), i % 250, dtype=np.uint8)).save(folder / f"{i:03d}.png")
    for i in range(3):
        (folder / f"broken_{i}.tif").write_bytes(b"not a tiff at all")
    dataset = register_dataset(session_factory, [tmp_path], "shared", "directory", str(folder))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    scans = [context.Process(target=_scan_when_all_start, args=(database_url, dataset.id, barrier))
             for _ in range(4)]
    for scan in scans:
        scan.start()
    for scan in scans:
        scan.join(timeout=120)
        assert scan.exitcode == 0
    with session_factory() as session:
        summary, = dataset_summaries(session, dataset.id)
        assert (summary.status, summary.item_count, summary.problem_count,
                summary.scanned_files, summary.total_files) == \
            ("ready", 2 * SCAN_BATCH + 10, 3, 2 * SCAN_BATCH + 10, 2 * SCAN_BATCH + 10)
        assert sorted(p.path for p in dataset_problems(session, dataset.id)) == \
            [f"broken_{i}.tif" for i in range(3)]
