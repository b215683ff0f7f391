"""Live batches in a row: the worker process that ran one live_features job runs the next
queued ones itself, yields to other work, and sends what it leaves behind; batches made
while one runs get no message of their own."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from data.catalog import insert_items, register_dataset, scan_dataset
from data.demo import demo_path, generate_demo
from data.sources.base import Listing
from db.models import Item, Job
from db.session import open_database, transaction
from ml.jobs import create_job
from ml.features import load_vectors
from ml.live_features import (KIND, attach_feature_jobs, extend_attached_features,
                              prune_finished_batches, take_queued_batches)
from settings import Settings
from tests.feature_jobs import run_job

N_FIRST, N_LATE = 12, 6


@pytest.fixture
def live(tmp_path):
    """A data set with a finished scattering_features job attached, and N_LATE items that
    arrived after it ran: (settings, session factory, data set id, feature job, late ids)."""
    generate_demo(tmp_path / "all", n_images=N_FIRST + N_LATE, size=32, seed=2)
    paths = [demo_path(i) for i in range(N_FIRST + N_LATE)]
    for path in paths[:N_FIRST]:
        (tmp_path / "images" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "all" / path, tmp_path / "images" / path)
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), cache_url="null://")
    engine, factory = open_database(settings)
    dataset_id = register_dataset(factory, settings.data_roots, "beam", "directory",
                                  str(tmp_path / "images")).id
    scan_dataset(factory, dataset_id)
    feature_job = run_job(factory, settings.artifacts_dir, "scattering_features", dataset_id,
                          {}).id
    for path in paths[N_FIRST:]:
        (tmp_path / "images" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "all" / path, tmp_path / "images" / path)
    with transaction(factory) as session:
        insert_items(session, dataset_id, [Listing(path) for path in paths[N_FIRST:]],
                     first_file_index=N_FIRST)
        attach_feature_jobs(session, dataset_id, [feature_job])
    scan_dataset(factory, dataset_id)
    with factory() as session:
        late = list(session.scalars(select(Item.id).where(
            Item.path.in_(paths[N_FIRST:])).order_by(Item.id)))
    yield settings, factory, dataset_id, feature_job, late
    engine.dispose()


def _queue(factory, dataset_id: int, kind: str, params: dict) -> int:
    with transaction(factory) as session:
        return create_job(session, kind, dataset_id, params, "tester").id


def load_vectors_of(factory, job_id: int):
    with factory() as session:
        return load_vectors(session.get(Job, job_id))


def _statuses(factory, job_ids) -> list[str]:
    with factory() as session:
        return [session.get(Job, job_id).status for job_id in job_ids]


def test_queued_batches_run_in_order_until_none_come(live):
    settings, factory, dataset_id, feature_job, late = live
    batches = [_queue(factory, dataset_id, KIND, {"feature_job_id": feature_job,
                                                  "item_ids": [item_id]})
               for item_id in late[:3]]
    sent = []
    ran = take_queued_batches(factory, settings.artifacts_dir, {"cpu", "gpu"}, sent.append,
                              linger_seconds=0.2)
    assert ran == 3 and sent == []
    assert _statuses(factory, batches) == ["succeeded"] * 3
    with factory() as session:
        started = [session.get(Job, job_id).started_at for job_id in batches]
    assert started == sorted(started)


def test_other_work_on_its_queues_ends_it_and_unsent_batches_are_sent(live):
    settings, factory, dataset_id, feature_job, late = live
    batch = _queue(factory, dataset_id, KIND, {"feature_job_id": feature_job,
                                               "item_ids": late[:1]})
    other = _queue(factory, dataset_id, "scattering_features", {})  # a cpu-queue job
    sent = []
    ran = take_queued_batches(factory, settings.artifacts_dir, {"cpu", "gpu"}, sent.append,
                              linger_seconds=5)
    assert ran == 0 and sent == [batch]  # the other job's message gets the process
    assert _statuses(factory, [batch, other]) == ["queued", "queued"]
    # work waiting on another worker's queue does not end it
    ran = take_queued_batches(factory, settings.artifacts_dir, {"gpu"}, sent.append,
                              linger_seconds=0.2)
    assert ran == 1 and _statuses(factory, [batch]) == ["succeeded"]


def test_batches_made_while_one_runs_are_left_to_its_process(live):
    settings, factory, dataset_id, feature_job, late = live
    running = _queue(factory, dataset_id, KIND, {"feature_job_id": feature_job,
                                                 "item_ids": late[:1]})
    with transaction(factory) as session:
        session.get(Job, running).status = "running"
    sent = []
    made = extend_attached_features(factory, dataset_id, late[1:], submit=sent.append)
    assert len(made) == 1 and sent == []
    with transaction(factory) as session:
        session.get(Job, running).status = "succeeded"
    made += extend_attached_features(factory, dataset_id, late[3:], submit=sent.append)
    assert sent == made[1:]  # none runs now: sent as usual


def test_only_the_newest_finished_batches_are_kept(live):
    settings, factory, dataset_id, feature_job, late = live
    batches = [_queue(factory, dataset_id, KIND, {"feature_job_id": feature_job,
                                                  "item_ids": [item_id]})
               for item_id in late[:4]]
    take_queued_batches(factory, settings.artifacts_dir, {"cpu"}, lambda job_id: None,
                        linger_seconds=0.1)
    with factory() as session:
        folders = [session.get(Job, job_id).artifact_dir for job_id in batches]
    assert prune_finished_batches(factory, keep=2) == 2
    with factory() as session:
        kept = list(session.scalars(select(Job.id).where(Job.kind == KIND)))
    assert kept == batches[2:]
    assert [Path(folder).exists() for folder in folders] == [False, False, True, True]
    assert load_vectors_of(factory, feature_job)[0].tolist()[-4:] == late[:4]  # rows stay
