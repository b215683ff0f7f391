"""Job ids and artifact folders are never used twice, on SQLite and on PostgreSQL, and a
SQLite database made before AUTOINCREMENT keeps its jobs and retrain loops when migrated."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text

from db import jobs as job_store
from db.migrate import alembic_config, upgrade
from db.models import Dataset, RetrainLoop
from db.session import make_engine, make_session_factory, transaction
from ml.jobs import execute_job
from tests.databases import make_dataset


def _add_job(session_factory, dataset_id: int) -> int:
    with transaction(session_factory) as session:
        return job_store.add_job(session, "dataset_stats", dataset_id, {}, "tester").id


def _delete_job(session_factory, job_id: int) -> None:
    with transaction(session_factory) as session:
        job_store.delete_job(session, job_id)


def test_the_id_of_a_deleted_newest_job_is_not_given_again(session_factory):
    dataset_id, _, _ = make_dataset(session_factory, 2)
    first = _add_job(session_factory, dataset_id)
    newest = _add_job(session_factory, dataset_id)
    _delete_job(session_factory, newest)
    assert _add_job(session_factory, dataset_id) == newest + 1
    _delete_job(session_factory, first)
    assert first not in {_add_job(session_factory, dataset_id) for _ in range(3)}


def test_a_job_never_writes_into_a_folder_another_job_left(session_factory, tmp_path: Path):
    """A folder named after the job's id may exist already (a job of an earlier database
    in the same data home): the job gets a folder of its own, the old files stay."""
    dataset_id, _, _ = make_dataset(session_factory, 2)
    job_id = _add_job(session_factory, dataset_id)
    artifacts = tmp_path / "artifacts"
    left_over = artifacts / f"job-{job_id}"
    left_over.mkdir(parents=True)
    (left_over / "model.pt").write_bytes(b"an older job's weights")

    # The data set's files do not exist, so the job fails; it still had its own folder.
    execute_job(session_factory, artifacts, job_id)
    with session_factory() as session:
        folder = Path(job_store.get_job(session, job_id).artifact_dir)
    assert folder == artifacts / f"job-{job_id}-2" and folder.is_dir()
    assert (left_over / "model.pt").read_bytes() == b"an older job's weights"


def test_a_job_that_must_not_run_leaves_no_folder(session_factory, tmp_path: Path):
    dataset_id, _, _ = make_dataset(session_factory, 2)
    job_id = _add_job(session_factory, dataset_id)
    with transaction(session_factory) as session:
        job_store.request_cancel(session, job_id)
    assert execute_job(session_factory, tmp_path / "artifacts", job_id) is None
    assert list((tmp_path / "artifacts").iterdir()) == []


def test_an_older_sqlite_database_migrates_keeping_items_jobs_and_retrain_loops(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        # the columns of 0004's datasets table (the model has gained some since)
        connection.execute(text(
            "INSERT INTO datasets (id, name, source_kind, location, status, item_count, "
            "scanned_files, total_files, created_at) "
            "VALUES (1, 'd', 'directory', '/nowhere', 'ready', 1, 1, 1, CURRENT_TIMESTAMP)"))
        connection.execute(text(
            "INSERT INTO items (id, dataset_id, uri, path, file_index, frame, sort_key, status) "
            "VALUES (1, 1, 'a.tif', 'a.tif', 0, 0, 0, 'ok')"))
    session_factory = make_session_factory(engine)
    for _ in range(3):
        _add_job(session_factory, 1)
    with transaction(session_factory) as session:
        session.add(RetrainLoop(dataset_id=1, enabled=True, every_labels=50, train_job_id=1,
                                infer_job_id=2, source_job_id=2))
    _delete_job(session_factory, 3)  # before AUTOINCREMENT: id 3 is free again

    upgrade(engine)
    with engine.connect() as connection:
        schema = connection.execute(text(
            "SELECT sql FROM sqlite_master WHERE name = 'jobs'")).scalar_one()
    assert "AUTOINCREMENT" in schema
    indexes = {index["name"] for index in inspect(engine).get_indexes("jobs")}
    assert "ix_jobs_dataset_status" in indexes
    with session_factory() as session:
        loop = session.get(RetrainLoop, 1)
        assert (loop.train_job_id, loop.infer_job_id, loop.source_job_id) == (1, 2, 2)
        assert [job.id for job in job_store.list_jobs(session)] == [2, 1]
    with engine.connect() as connection:  # later migrations add columns in place
        assert connection.execute(text("SELECT uri FROM items")).scalars().all() == ["a.tif"]
    newest = _add_job(session_factory, 1)
    _delete_job(session_factory, newest)
    assert _add_job(session_factory, 1) == newest + 1
    # Deleting the data set still deletes its jobs (the foreign key survived the copy).
    with transaction(session_factory) as session:
        session.delete(session.get(Dataset, 1))
    with session_factory() as session:
        assert job_store.list_jobs(session) == []
    engine.dispose()
