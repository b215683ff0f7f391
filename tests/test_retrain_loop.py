"""The retrain loop's decisions on SQLite and PostgreSQL (off until turned on, a training
every N new labels and never two at once, an inference after each training, failures and
refusals wait for N more labels), and one turn of the loop with the real job runner."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from db import jobs as job_store
from db.labels import create_label
from db.models import Item, Job
from db.retrain_loops import set_loop
from db.session import transaction
from db.store import TagIn, apply_event
from errors import DomainError
from ml.features import feature_sources
from ml.jobs import create_job, execute_job
from ml.kinds.classifier import check_train_params
from ml.retrain_loop import decide, loop_status, step, step_after_job
from tests.databases import demo_dataset, make_dataset
from worker import make_celery

EVERY = 10
TINY = {"model": "resnet18", "image_size": 32, "epochs": 1, "batch_size": 16,
        "val_share": 0.3}


class Lab:
    """A data set of 60 items with the classes ring and peak, labeled a few at a time."""

    def __init__(self, session_factory):
        self.factory = session_factory
        self.dataset_id, self.items, self.labels = make_dataset(session_factory, 60,
                                                                ("ring", "peak"))
        self.labeled = 0

    def label(self, count: int) -> int:
        """Label the next ``count`` items, rings and peaks in turn; the event's id."""
        chosen = range(self.labeled, self.labeled + count)
        tags = [TagIn(self.items[i], self.labels["ring" if i % 2 else "peak"]) for i in chosen]
        self.labeled += count
        with transaction(self.factory) as session:
            return apply_event(session, self.dataset_id, "anna", "manual", tags).id

    def turn_on(self, every: int = EVERY) -> None:
        with transaction(self.factory) as session:
            set_loop(session, self.dataset_id, True, every)

    def decide(self, now: bool = False):
        return decide(self.factory, self.dataset_id, "anna", now)

    def status(self):
        with self.factory() as session:
            return loop_status(session, self.dataset_id)

    def job(self, job_id: int) -> Job:
        with self.factory() as session:
            return job_store.get_job(session, job_id)

    def end(self, job_id: int, status: str, result=None, error=None) -> None:
        """What a worker leaves on the job's row."""
        with transaction(self.factory) as session:
            job_store.mark_running(session, job_id, None)
            job_store.finish(session, job_id, status, result, error)

    def end_training(self, job_id: int, event_id: int, images: int) -> None:
        self.end(job_id, "succeeded", {"images": images, "trained_on_event_id": event_id})

    def job_count(self) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(Job))


@pytest.fixture
def lab(session_factory) -> Lab:
    return Lab(session_factory)


def test_the_loop_is_off_until_turned_on(lab):
    lab.label(30)
    assert lab.decide() is None and lab.job_count() == 0
    status = lab.status()
    assert not status.enabled and status.every_labels == 200
    assert status.running is None and status.source is None and status.problem is None
    assert status.new_labels == 30 and status.labels_to_next == 170


def test_a_training_is_due_every_n_labels_and_never_queued_twice(lab):
    lab.turn_on()
    lab.label(9)
    assert lab.decide() is None
    assert lab.status().labels_to_next == 1
    lab.label(1)
    training = lab.decide()
    job = lab.job(training)
    assert job.kind == "classifier_train" and job.owner == "anna"
    assert job.params == check_train_params({"event_id": 0})  # the kind's defaults
    assert lab.status().running.id == training

    assert lab.decide() is None  # queued
    with transaction(lab.factory) as session:
        job_store.mark_running(session, training, None)
    lab.label(EVERY)
    assert lab.decide() is None  # running, though another N labels came
    assert lab.job_count() == 1


def test_an_inference_follows_each_training_and_becomes_the_source(lab):
    with transaction(lab.factory) as session:  # a training the user ran before
        earlier = create_job(session, "classifier_train", lab.dataset_id,
                             {**TINY, "event_id": lab.label(4)}, "anna").id
    lab.end_training(earlier, 1, 4)
    lab.turn_on()
    event = lab.label(6)
    training = lab.decide()
    assert lab.job(training).params == {**lab.job(earlier).params, "event_id": 0}
    lab.end_training(training, event, 10)

    inference = lab.decide()
    job = lab.job(inference)
    assert job.kind == "classifier_infer" and job.params["model_job_id"] == training
    assert lab.decide() is None
    lab.end(inference, "succeeded")
    status = lab.status()
    assert status.source_job_id == inference and status.running is None
    assert (status.trained_on, status.new_labels, status.labels_to_next) == (10, 0, 10)

    lab.label(3)
    assert (lab.status().new_labels, lab.status().labels_to_next) == (3, 7)
    lab.label(7)
    retraining = lab.decide()
    assert lab.job(retraining).kind == "classifier_train"
    lab.end_training(retraining, 0, 20)
    assert lab.job(lab.decide()).params["model_job_id"] == retraining
    status = lab.status()
    assert status.running.kind == "classifier_infer"
    assert status.source_job_id == inference  # the older model serves until the new one is in


def test_a_failed_training_waits_for_n_more_labels_unless_asked_again(lab):
    lab.turn_on()
    lab.label(EVERY)
    training = lab.decide()
    lab.end(training, "failed", error="RuntimeError: out of memory")
    assert lab.decide() is None
    assert lab.status().problem == (f"classifier_train job {training} failed: "
                                    "RuntimeError: out of memory")
    lab.label(EVERY - 1)
    assert lab.decide() is None
    again = lab.decide(now=True)
    assert again not in (None, training)
    with pytest.raises(DomainError, match="is queued") as refused:
        lab.decide(now=True)
    assert refused.value.status == 409


def test_a_refused_training_is_shown_not_raised_and_now_says_why(lab):
    lab.turn_on()
    with transaction(lab.factory) as session:
        apply_event(session, lab.dataset_id, "anna", "manual",
                    [TagIn(item, lab.labels["ring"]) for item in lab.items[:EVERY]])
    assert lab.decide() is None and lab.job_count() == 0
    assert "peak has no labeled images" in lab.status().problem
    with pytest.raises(DomainError, match="peak has no labeled images"):
        lab.decide(now=True)


def test_retrain_now_needs_no_setting(lab):
    lab.label(4)
    training = lab.decide(now=True)
    assert lab.job(training).kind == "classifier_train"
    assert not lab.status().enabled


def test_steps_taken_at_the_same_time_queue_one_training(lab):
    lab.turn_on()
    lab.label(EVERY)
    start = threading.Barrier(4)
    decided = []

    def take_step():
        start.wait()
        decided.append(lab.decide())

    threads = [threading.Thread(target=take_step) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([job_id for job_id in decided if job_id is not None]) == 1
    assert lab.job_count() == 1


def test_one_turn_of_the_loop_with_the_real_job_runner(tmp_path):
    """Labels call for a training, the worker's step after it queues the inference, and the
    inference becomes the suggestions' source; tiny images, one epoch."""
    import torch

    torch.set_num_threads(1)  # the CPU is shared
    demo = demo_dataset(tmp_path, 36, size=32, seed=3, classes=("empty", "rings"))
    factory, artifacts = demo.session_factory, demo.settings.artifacts_dir
    celery = make_celery(demo.settings)  # queues on the local broker; this test is the worker
    try:
        with transaction(factory) as session:
            labels = {name: create_label(session, demo.dataset_id, name).id
                      for name in ("empty", "rings")}
            ids = dict(session.execute(select(Item.path, Item.id)
                                       .where(Item.dataset_id == demo.dataset_id)).all())
            apply_event(session, demo.dataset_id, "anna", "import",
                        [TagIn(ids[path], labels[name]) for path, name in demo.truth[:30]])
            set_loop(session, demo.dataset_id, True, EVERY)
            earlier = create_job(session, "classifier_train", demo.dataset_id, TINY, "anna").id
        assert execute_job(factory, artifacts, earlier) == "succeeded"
        assert step_after_job(celery, factory, earlier) is None  # not the loop's job

        training = step(celery, factory, demo.dataset_id, "anna")
        assert execute_job(factory, artifacts, training) == "succeeded"
        inference = step_after_job(celery, factory, training)
        assert execute_job(factory, artifacts, inference) == "succeeded"
        assert step_after_job(celery, factory, inference) is None  # nothing new to learn

        with factory() as session:
            status = loop_status(session, demo.dataset_id)
            sources = feature_sources(session, demo.dataset_id, with_probabilities=True)
        assert status.source_job_id == inference and status.running is None
        assert (status.trained_on, status.new_labels, status.labels_to_next) == (30, 0, EVERY)
        assert [source.job_id for source in sources] == [inference]
    finally:
        demo.engine.dispose()
