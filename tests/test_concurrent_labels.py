"""Label writes from many processes at once, through the real API on SQLite and PostgreSQL:
every event lands (or is refused with a 4xx that says to retry, never a 5xx), the current
labels are the replay of the event log, and concurrent undos of one event undo it once."""
from __future__ import annotations

import multiprocessing
import random

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from api.error_answers import busy_database_answer
from db.models import CurrentLabel, Tag, TaggingEvent
from tests.api_client import (PREFIX, api, dataset, folder, item_ids, labels,  # noqa: F401
                              server, settings)

PROCESSES = 8
EVENTS_EACH = 40


def _client(settings):
    from app import create_server

    return create_server(settings).test_client()


def _tag_in_turn(settings, dataset_id, items, label_ids, worker, barrier, answers):
    client = _client(settings)
    rng = random.Random(worker)
    barrier.wait()
    for _ in range(EVENTS_EACH):
        order = rng.sample(items, len(items))  # the same items, each process its own order
        tags = [{"item_id": item, "label_id": rng.choice(label_ids)} for item in order]
        response = client.post(f"{PREFIX}/datasets/{dataset_id}/events",
                               json={"tagger": f"tagger{worker}", "method": "manual",
                                     "tags": tags})
        answers.put((response.status_code, response.get_json().get("id")))


def _undo_once(settings, event_id, barrier, answers):
    client = _client(settings)
    barrier.wait()
    response = client.post(f"{PREFIX}/events/{event_id}/undo", json={"tagger": "undoer"})
    answers.put((response.status_code, response.get_json().get("id")))


def _run_all(target, args_of) -> list[tuple[int, int]]:
    context = multiprocessing.get_context("spawn")  # no engine or server shared with the test
    barrier, answers = context.Barrier(PROCESSES), context.Queue()
    processes = [context.Process(target=target, args=(*args_of(worker), barrier, answers))
                 for worker in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
        assert process.exitcode == 0
    results = []
    while not answers.empty():
        results.append(answers.get())
    return results


def _replayed(session, dataset_id) -> dict[int, int]:
    """Each item's label after applying every tag in event order."""
    labels_now: dict[int, int] = {}
    for item_id, label_id in session.execute(
            select(Tag.item_id, Tag.label_id).join(TaggingEvent, TaggingEvent.id == Tag.event_id)
            .where(TaggingEvent.dataset_id == dataset_id).order_by(Tag.event_id, Tag.id)):
        if label_id is None:
            labels_now.pop(item_id, None)
        else:
            labels_now[item_id] = label_id
    return labels_now


def test_concurrent_events_on_the_same_items_all_land(server, settings, api, dataset, labels):
    items = sorted(item_ids(api, dataset["id"]).values())[:5]
    answers = _run_all(_tag_in_turn, lambda worker: (
        settings, dataset["id"], items, list(labels.values()), worker))
    assert sorted({status for status, _ in answers}) == [201], answers
    assert len(answers) == PROCESSES * EVENTS_EACH
    factory = server.extensions["beamlabel"].session_factory
    with factory() as session:
        stored = session.scalars(select(TaggingEvent.id).where(
            TaggingEvent.dataset_id == dataset["id"])).all()
        assert sorted(stored) == sorted(event_id for _, event_id in answers)
        current = dict(session.execute(select(CurrentLabel.item_id, CurrentLabel.label_id)
                                       .where(CurrentLabel.dataset_id == dataset["id"])).all())
        assert current == _replayed(session, dataset["id"])


def test_concurrent_undos_of_one_event_undo_it_once(server, settings, api, dataset, labels):
    items = sorted(item_ids(api, dataset["id"]).values())[:3]
    event = api.post(f"/datasets/{dataset['id']}/events", {
        "tagger": "ann", "method": "manual",
        "tags": [{"item_id": item, "label_id": labels["ring"]} for item in items]}).json
    answers = _run_all(_undo_once, lambda _worker: (settings, event["id"]))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201] + [409] * (PROCESSES - 1), answers
    factory = server.extensions["beamlabel"].session_factory
    with factory() as session:
        undos = session.scalars(select(TaggingEvent).where(
            TaggingEvent.undoes_event_id == event["id"])).all()
        assert len(undos) == 1
        current = dict(session.execute(select(CurrentLabel.item_id, CurrentLabel.label_id)
                                       .where(CurrentLabel.dataset_id == dataset["id"])).all())
        assert current == _replayed(session, dataset["id"]) == {}


def test_a_lost_lock_race_is_a_409_to_retry(server):
    with server.test_request_context():
        for cause in (psycopg.errors.DeadlockDetected("deadlock detected"),
                      psycopg.errors.SerializationFailure("could not serialize access")):
            answer = busy_database_answer(OperationalError("INSERT ...", {}, cause))
            assert answer.status_code == 409 and "send the request again" in answer.json["error"]
        other = OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("shutting down"))
        with pytest.raises(OperationalError):  # not a race: stays a server error, logged
            busy_database_answer(other)
