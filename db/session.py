"""Engines and sessions: SQLite tuned for a local app (WAL, busy timeout, foreign keys)."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from db.migrate import upgrade
from settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed at the end, or rolled back whole on error."""
    with session_factory() as session:
        with session.begin():
            yield session


def take_write_lock(session: Session, dataset_id: int) -> None:
    """On SQLite, wait for the database's write lock and keep it to the end of the
    transaction (a SELECT does not take it, so reads made next would otherwise race another
    process's writes); it is taken with a no-op write to the data set's row. Nothing on
    PostgreSQL, where row locks do the same for what they cover."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE datasets SET id = id WHERE id = :id"), {"id": dataset_id})


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """The engine and session factory of a database migrated to the newest schema."""
    settings.ensure_dirs()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return engine, make_session_factory(engine)
