"""Real databases for tests: a SQLite file, and a throw-away schema on the local PostgreSQL."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from db.migrate import upgrade
from db.session import make_engine, make_session_factory

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
