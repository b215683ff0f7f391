"""The header scan in worker processes: it renders the thumbnails the label page asks for
first (the route's very bytes, under the route's key) and finds what a single worker finds."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from sqlalchemy import select

from callbacks.common import thumbnail_url
from data.catalog import dataset_summaries, register_dataset, scan_dataset
from data.scan_pool import CHUNK_FILES, ScanPool, read_files
from data.sources import open_source
from data import thumbnail_cache
from data.thumbnail_cache import ThumbnailWriter, open_cache
from data.thumbnails import DEFAULT_THUMBNAIL, Thumbnail
from db.models import DatasetProblem, Item
from settings import Settings, load_settings, settings_environment
from tests.scanned_app import scanned_app

ROOT = Path(__file__).resolve().parents[1]


def write_mixed_folder(folder: Path, n_pngs: int = 5) -> None:
    """PNGs, 16-bit and float TIFFs, a stack, and files that are not images or are broken."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    for i in range(n_pngs):
        Image.fromarray(rng.integers(0, 255, (40, 60), dtype=np.uint8)).save(
            folder / f"p{i:03d}.png")
    tifffile.imwrite(folder / "t16.tif", rng.integers(0, 60000, (300, 200), dtype=np.uint16))
    tifffile.imwrite(folder / "tfloat.tif", rng.random((64, 64), dtype=np.float32))
    tifffile.imwrite(folder / "stack.tif", rng.integers(0, 999, (4, 32, 32), dtype=np.uint16),
                     photometric="minisblack")
    (folder / "corrupt.tif").write_bytes(b"not a tiff at all")
    (folder / "text.png").write_text("a note saved with an image suffix")
    (folder / "empty.png").write_bytes(b"")
    whole = (folder / "p000.png").read_bytes()
    (folder / "cut.png").write_bytes(whole[:len(whole) // 2])  # a header, half its data


def test_scan_renders_the_thumbnails_the_route_would(tmp_path):
    write_mixed_folder(tmp_path / "images")
    server, services, dataset = scanned_app(tmp_path, tmp_path / "images", scan_workers=2)
    with services.session_factory() as session:
        items = session.execute(select(Item.id, Item.uri, Item.status, Item.frame)
                                .where(Item.dataset_id == dataset.id)).all()
    firsts = {uri: item_id for item_id, uri, status, frame in items
              if frame == 0 and status == "ok"}
    assert sorted(firsts) == ["p000.png", "p001.png", "p002.png", "p003.png", "p004.png",
                              "stack.tif", "t16.tif", "tfloat.tif"]
    scanned = {uri: services.cache.get(DEFAULT_THUMBNAIL.cache_key(item_id))
               for uri, item_id in firsts.items()}
    assert all(body and body[:8] == b"\x89PNG\r\n\x1a\n" for body in scanned.values())
    services.cache.clear()
    client = server.test_client()
    for uri, item_id in firsts.items():  # the label page's first request for each tile
        answer = client.get(thumbnail_url(item_id, 128, True, (1, 99), "gray"))
        assert answer.status_code == 200
        assert answer.data == scanned[uri], uri
        # ... which the route keeps under the key the scan wrote
        assert services.cache.get(DEFAULT_THUMBNAIL.cache_key(item_id)) == answer.data
    services.scan_pool.close()


def _scan_state(session_factory, dataset_id: int):
    with session_factory() as session:
        items = session.execute(
            select(Item.uri, Item.status, Item.height, Item.width, Item.dtype)
            .where(Item.dataset_id == dataset_id).order_by(Item.sort_key)).all()
        problems = session.execute(
            select(DatasetProblem.path, DatasetProblem.message, Item.uri)
            .join(Item, Item.id == DatasetProblem.item_id)
            .where(DatasetProblem.dataset_id == dataset_id).order_by(DatasetProblem.path)).all()
        summary, = dataset_summaries(session, dataset_id)
    counts = (summary.status, summary.item_count, summary.problem_count,
              summary.scanned_files, summary.total_files)
    return [tuple(row) for row in items], [tuple(row) for row in problems], counts


@pytest.mark.parametrize("workers", [1, 2])
def test_parallel_scan_finds_what_one_worker_finds(session_factory, tmp_path, workers):
    # More files than fit in the chunks in flight at once, so chunks queue and come back.
    n_pngs = 2 * workers * 2 * CHUNK_FILES + 5
    write_mixed_folder(tmp_path / "images", n_pngs)
    dataset = register_dataset(session_factory, [tmp_path], "mixed", "directory",
                               str(tmp_path / "images"))
    pool = ScanPool(workers, f"filesystem://{tmp_path / 'cache'}")
    try:
        scan_dataset(session_factory, dataset.id, pool)
    finally:
        pool.close()
    items, problems, counts = _scan_state(session_factory, dataset.id)
    files = n_pngs + 7
    assert counts == ("ready", files + 3, 4, files, files)
    assert [uri for uri, *_ in items if uri.startswith("stack.tif")] == \
        ["stack.tif"] + [f"stack.tif#frame={i}" for i in (1, 2, 3)]
    assert [(path, uri) for path, _message, uri in problems] == \
        [("corrupt.tif", "corrupt.tif"), ("cut.png", "cut.png"), ("empty.png", "empty.png"),
         ("text.png", "text.png")]
    assert ("t16.tif", "ok", 300, 200, "uint16") in items
    assert ("cut.png", "unreadable", 40, 60, "uint8") in items  # a header, but no image

    # The scan in this process (headers only) agrees on every file whose header it can judge.
    alone = register_dataset(session_factory, [tmp_path], "alone", "directory",
                             str(tmp_path / "images"))
    scan_dataset(session_factory, alone.id)
    alone_items, alone_problems, alone_counts = _scan_state(session_factory, alone.id)
    assert [row for row in alone_items if row[0] != "cut.png"] == \
        [row for row in items if row[0] != "cut.png"]
    assert [row for row in alone_problems] == [row for row in problems if row[0] != "cut.png"]
    assert alone_counts[:2] == counts[:2] and alone_counts[3:] == counts[3:]


def test_worker_writes_are_found_by_the_web_apps_cache(tmp_path):
    """A worker's writer keeps a chunk's thumbnails in one store, in the web app's cache
    file; nothing else is left in the cache's folder."""
    url = f"filesystem://{tmp_path / 'cache'}"
    web = open_cache(url)
    web.set("thumb:1:png:128:1:1:99:gray", b"first")
    writer = ThumbnailWriter(url)
    writer.set_many({f"thumb:{item_id}:png:128:1:1:99:gray": b"scanned %d" % item_id
                     for item_id in range(2, 7)})
    assert web.get("thumb:4:png:128:1:1:99:gray") == b"scanned 4"
    assert web.get("thumb:1:png:128:1:1:99:gray") == b"first"
    assert {path.name for path in (tmp_path / "cache").iterdir()} <= {
        "thumbnails.sqlite3", "thumbnails.sqlite3-wal", "thumbnails.sqlite3-shm"}


def test_scan_workers_setting():
    assert load_settings({"BEAMLABEL_SCAN_WORKERS": "3"}).scan_workers == 3
    assert load_settings({}).scan_workers >= 1  # the cores
    assert settings_environment(Settings(scan_workers=5))["BEAMLABEL_SCAN_WORKERS"] == "5"
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="BEAMLABEL_SCAN_WORKERS"):
            load_settings({"BEAMLABEL_SCAN_WORKERS": bad})


def test_the_scan_renders_what_the_label_page_asks_for_first(tmp_path):
    """DEFAULT_THUMBNAIL is the label page's opening view (tile size, log scale,
    percentiles, colours): read from the page's layout in a process that builds the app."""
    script = (
        "import json\n"
        "from pathlib import Path\n"
        "import app\n"
        "from settings import Settings\n"
        f"home = Path({str(tmp_path)!r})\n"
        "app.create_app(Settings(home=home, data_roots=(home,)), resume_scans=False)\n"
        "import dash\n"
        "from callbacks.ids import Label\n"
        "wanted = {Label.THUMB_SIZE: 'size', Label.LOG: 'log', Label.PERCENTILES: 'pmin_pmax',\n"
        "          Label.COLORMAP: 'cmap'}\n"
        "page = dash.page_registry['pages.label']['layout']()\n"
        "found = {wanted[c.id]: c.value for c in page._traverse()\n"
        "         if getattr(c, 'id', None) in wanted}\n"
        "print(json.dumps(found))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    opening = json.loads(result.stdout.strip().splitlines()[-1])
    thumbnail = DEFAULT_THUMBNAIL
    assert opening == {"size": str(thumbnail.size), "log": thumbnail.transform.log,
                       "pmin_pmax": [thumbnail.transform.pmin, thumbnail.transform.pmax],
                       "cmap": thumbnail.colormap}
    assert thumbnail.fmt == "png" and ".png?" in thumbnail_url(1, 128, True, (1, 99), "gray")


def test_a_cache_that_is_down_costs_only_the_thumbnails(session_factory, tmp_path):
    write_mixed_folder(tmp_path / "images")
    dataset = register_dataset(session_factory, [tmp_path], "mixed", "directory",
                               str(tmp_path / "images"))
    pool = ScanPool(1, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        scan_dataset(session_factory, dataset.id, pool)
    finally:
        pool.close()
    _items, problems, counts = _scan_state(session_factory, dataset.id)
    assert counts == ("ready", 15, 4, 12, 12)
    assert [path for path, *_ in problems] == ["corrupt.tif", "cut.png", "empty.png", "text.png"]


def test_the_scan_fills_a_local_cache_to_half_its_threshold_at_most(tmp_path, monkeypatch):
    """Past its threshold the cache deletes its oldest thumbnails, which would be what the
    pages kept: the scan renders ahead only while the cache is less than half full."""
    monkeypatch.setattr(thumbnail_cache, "CACHE_THRESHOLD", 10)
    url = f"filesystem://{tmp_path / 'cache'}"
    writer = ThumbnailWriter(url)
    open_cache(url).cache.set_many({f"page:{i}": b"kept by a page" for i in range(4)})
    assert writer.has_room()
    writer.set("thumb:1:png:128:1:1:99:gray", b"one more")
    assert not writer.has_room()
    assert not ThumbnailWriter("null://").has_room()  # keeps nothing: render nothing ahead


def test_a_thumbnail_the_renderer_fails_on_costs_only_the_thumbnail(tmp_path):
    """A renderer's error (here: a colour map it does not know) is no problem of the file:
    the header is recorded and the scan goes on; the route renders (and says) it later."""
    write_mixed_folder(tmp_path / "images", n_pngs=2)
    source = open_source("directory", str(tmp_path / "images"))
    writer = ThumbnailWriter(f"filesystem://{tmp_path / 'cache'}")
    results = read_files(source, [(1, "p000.png"), (2, "t16.tif")],
                         Thumbnail(colormap="no such map"), writer)
    found = [(r.item_id, r.info.width, r.problem) for r in results]
    assert found == [(1, 60, None), (2, 200, None)]
