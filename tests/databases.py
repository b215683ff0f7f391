"""Real databases for tests: a SQLite file, and a throw-away schema on the local PostgreSQL."""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text

from db.migrate import upgrade
from db.session import make_engine, make_session_factory

if TYPE_CHECKING:
    from settings import Settings

POSTGRES_URL = os.environ.get("BEAMLABEL_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_schema_url(schema: str) -> str:
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def create_postgres_schema() -> tuple[str, callable]:
    """A fresh schema (and its URL) plus the function that drops it again."""
    schema = f"bl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception as error:  # a missing server must fail loudly, not skip
        admin.dispose()
        raise RuntimeError(f"PostgreSQL at {POSTGRES_URL} is not reachable ({error}); start it "
                           "with pg_ctlcluster (see README)") from error

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return postgres_schema_url(schema), drop


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path):
    """The URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        url, drop = f"sqlite:///{tmp_path / 'test.db'}", (lambda: None)
    else:
        url, drop = create_postgres_schema()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop()


@pytest.fixture
def session_factory(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def make_dataset(session_factory, n_items: int, label_names=(), name: str = "d"):
    """A registered-looking data set of ``n_items`` (img_00.tif, ...) with label classes.

    Returns (dataset id, item ids in file order, {label name: label id}).
    """
    from data.catalog import insert_items
    from data.sources.base import Listing
    from db.labels import create_label
    from db.models import Dataset
    from db.session import transaction
    from db.store import items_page

    with transaction(session_factory) as session:
        dataset = Dataset(name=name, source_kind="directory", location="/nowhere",
                          status="ready")
        session.add(dataset)
        session.flush()
        insert_items(session, dataset.id, [Listing(f"img_{i:02d}.tif") for i in range(n_items)])
        labels = {label: create_label(session, dataset.id, label).id for label in label_names}
        ids = [row.id for row in items_page(session, dataset.id, limit=n_items)]
    return dataset.id, ids, labels


@dataclass
class DemoDataset:
    settings: "Settings"
    engine: object
    session_factory: object
    dataset_id: int
    truth: list  # (path, class) per image, in generation order


def demo_dataset(tmp_path: Path, n_images: int, size: int = 64, seed: int = 0,
                 classes=None, scan: bool = True) -> DemoDataset:
    """Demo images in tmp_path/images, registered (and header-scanned) as data set 'demo' in
    a fresh SQLite database under tmp_path/home. Dispose of ``engine`` when done."""
    from data.catalog import register_dataset, scan_dataset
    from data.demo import generate_demo
    from db.session import open_database
    from settings import Settings

    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,))
    engine, session_factory = open_database(settings)
    truth = generate_demo(tmp_path / "images", n_images=n_images, size=size, seed=seed,
                          classes=classes)
    dataset = register_dataset(session_factory, settings.data_roots, "demo", "directory",
                               str(tmp_path / "images"))
    if scan:
        scan_dataset(session_factory, dataset.id)
    return DemoDataset(settings, engine, session_factory, dataset.id, truth)
