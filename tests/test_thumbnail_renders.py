"""The thumbnail route's render workers: the bytes of an in-process render, kept in the
cache, a page's renders started by its items callback, and unreadable files still marked."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from sqlalchemy import select

from api import thumbnail_renders
from api.thumbnail_renders import ThumbnailRenders, renders_of
from api.thumbnails import prefetch
from callbacks.common import thumbnail_url
from data.sources import UnreadableImage, open_source
from data.thumbnail_cache import open_cache
from data.thumbnails import DEFAULT_THUMBNAIL, render_unreadable
from db.models import Item
from tests.scanned_app import scanned_app


def write_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(3):
        tifffile.imwrite(folder / f"t{i}.tif", rng.integers(0, 60000, (256, 256), np.uint16))
    Image.fromarray(rng.integers(0, 60000, (200, 300)).astype(np.uint16)).save(folder / "p.png")
    (folder / "corrupt.tif").write_bytes(b"not a tiff at all")


def started(renders: ThumbnailRenders) -> ThumbnailRenders:
    renders.start()
    deadline = time.monotonic() + 120
    while not renders.ready:
        assert time.monotonic() < deadline, "the render workers did not start"
        time.sleep(0.05)
    return renders


@pytest.fixture
def folder(tmp_path):
    write_folder(tmp_path / "images")
    return open_source("directory", str(tmp_path / "images"))


@pytest.fixture
def renders(tmp_path):
    renders = started(ThumbnailRenders(1, f"filesystem://{tmp_path / 'cache'}"))
    yield renders
    renders.close()


def test_workers_render_the_in_process_bytes_and_keep_them(renders, folder):
    cache = open_cache(renders.cache_url)
    for item_id, path in enumerate(["t0.tif", "p.png"]):
        key = DEFAULT_THUMBNAIL.cache_key(item_id)
        body = renders.result(renders.submit(folder, key, path, 0, DEFAULT_THUMBNAIL))
        assert body == DEFAULT_THUMBNAIL.render(folder, path)
        assert cache.get(key) == body


def test_renders_just_done_are_kept_in_memory_up_to_their_bound(renders, folder, monkeypatch):
    keys = [DEFAULT_THUMBNAIL.cache_key(item_id) for item_id in range(3)]
    bodies = [DEFAULT_THUMBNAIL.render(folder, f"t{i}.tif") for i in range(3)]
    monkeypatch.setattr(thumbnail_renders, "RECENT_BYTES", len(bodies[1]) + len(bodies[2]))
    for i, key in enumerate(keys):
        renders.result(renders.submit(folder, key, f"t{i}.tif", 0, DEFAULT_THUMBNAIL))
        deadline = time.monotonic() + 10  # the future's callbacks run just after its result
        while renders.recent(key) is None:
            assert time.monotonic() < deadline, f"render {i} is not kept"
            time.sleep(0.01)
    assert [renders.recent(key) for key in keys] == [None, bodies[1], bodies[2]]


def test_a_corrupt_file_is_unreadable_through_a_worker_and_nothing_is_kept(renders, folder):
    key = DEFAULT_THUMBNAIL.cache_key(9)
    with pytest.raises(UnreadableImage, match="corrupt.tif"):
        renders.result(renders.submit(folder, key, "corrupt.tif", 0, DEFAULT_THUMBNAIL))
    assert open_cache(renders.cache_url).get(key) is None


def test_one_render_per_key_while_it_runs(renders, folder):
    key = DEFAULT_THUMBNAIL.cache_key(1)
    first = renders.submit(folder, key, "t1.tif", 0, DEFAULT_THUMBNAIL)
    second = renders.submit(folder, key, "t1.tif", 0, DEFAULT_THUMBNAIL)
    assert second is first or first.done()
    assert renders.result(second) == renders.result(first)


def test_before_the_workers_answer_the_web_process_renders(tmp_path, folder, monkeypatch):
    monkeypatch.setattr(ThumbnailRenders, "start", lambda self: None)  # workers never start
    renders = ThumbnailRenders(1, f"filesystem://{tmp_path / 'cache'}")
    key = DEFAULT_THUMBNAIL.cache_key(2)
    try:
        body = renders.result(renders.submit(folder, key, "t2.tif", 0, DEFAULT_THUMBNAIL))
    finally:
        renders.close()
    assert not renders.ready
    assert body == DEFAULT_THUMBNAIL.render(folder, "t2.tif")
    assert open_cache(renders.cache_url).get(key) == body


def test_a_page_prefetched_and_then_served(tmp_path):
    write_folder(tmp_path / "images")
    server, services, dataset = scanned_app(tmp_path, tmp_path / "images", scan_workers=1)
    services.scan_pool.close()
    services.cache.clear()
    with services.session_factory() as session:
        items = dict(session.execute(select(Item.path, Item.id)
                                     .where(Item.dataset_id == dataset.id)).all())
    (tmp_path / "images" / "t2.tif").write_bytes(b"broken since its scan")
    renders = started(renders_of(server))
    urls = {path: thumbnail_url(item_id, 128, True, (1, 99), "gray")
            for path, item_id in items.items()}
    with server.test_request_context():
        prefetch(dataset.id, list(urls.values()))
        started_renders = {path for path, item_id in items.items()
                           if renders.in_flight(DEFAULT_THUMBNAIL.cache_key(item_id))
                           or services.cache.has(DEFAULT_THUMBNAIL.cache_key(item_id))}
    # every readable file's, not the one the scan found unreadable
    assert started_renders == {"t0.tif", "t1.tif", "t2.tif", "p.png"}
    source = open_source("directory", str(tmp_path / "images"))
    client = server.test_client()
    for path, url in urls.items():
        answer = client.get(url)
        assert answer.status_code == 200, path
        if path in ("t2.tif", "corrupt.tif"):  # the scan or now this request found it broken
            assert answer.data == render_unreadable(128)
        else:
            assert answer.data == DEFAULT_THUMBNAIL.render(source, path), path
            assert services.cache.get(DEFAULT_THUMBNAIL.cache_key(items[path])) == answer.data
    with services.session_factory() as session:
        assert session.get(Item, items["t2.tif"]).status == "unreadable"
    bad_cmap = client.get(urls["t0.tif"].replace("cmap=gray", "cmap=nope"))
    assert bad_cmap.status_code == 400 and bad_cmap.json["field"] == "cmap"
    assert client.get(urls["t0.tif"].replace("size=128", "size=129")).status_code == 400
