"""Label classes on SQLite and PostgreSQL: edit, reorder, delete, and undoing a deletion."""
import pytest

from db.labels import (create_label, delete_label, label_usage, list_labels, reorder_labels,
                       update_label)
from db.models import LabelClass, TaggingEvent
from db.session import transaction
from tests.databases import make_dataset
from db.store import TagIn, apply_event, current_labels
from db.undo import last_undoable_event, undo_event
from errors import DomainError


@pytest.fixture
def dataset(session_factory):
    """12 items with the classes ring (hotkey 1), peak (2) and halo (3)."""
    return make_dataset(session_factory, 12, ("ring", "peak", "halo"))


def refused(session_factory, call, *args, **kwargs) -> DomainError:
    """The DomainError of ``call`` run in its own transaction (which it rolls back)."""
    with pytest.raises(DomainError) as raised:
        with transaction(session_factory) as session:
            call(session, *args, **kwargs)
    return raised.value


def classes(session_factory, dataset_id, include_archived=False):
    with session_factory() as session:
        return [(label.name, label.color, label.hotkey, label.archived) for label in
                list_labels(session, dataset_id, include_archived=include_archived)]


def current(session_factory, dataset_id) -> dict[int, tuple[int, float | None]]:
    with session_factory() as session:
        return {item: (label, confidence)
                for item, _, label, _, confidence in current_labels(session, dataset_id)}


def count_events(session_factory) -> int:
    with session_factory() as session:
        return session.query(TaggingEvent).count()


def test_update_label(session_factory, dataset):
    dataset_id, _, labels = dataset
    with transaction(session_factory) as session:
        update_label(session, dataset_id, labels["ring"], name=" Ring ", color="#123ABC")
        update_label(session, dataset_id, labels["peak"], hotkey="")
        update_label(session, dataset_id, labels["halo"], hotkey="2")
        update_label(session, dataset_id, labels["halo"], name="halo")  # its own name: fine
    assert classes(session_factory, dataset_id) == [
        ("Ring", "#123ABC", "1", False), ("peak", "#56B4E9", None, False),
        ("halo", "#009E73", "2", False)]

    with transaction(session_factory) as session:
        update_label(session, dataset_id, labels["peak"], hotkey="9")
    for kwargs, field, status in [
            ({"name": "Ring"}, "name", 409), ({"name": "  "}, "name", 400),
            ({"name": "x" * 101}, "name", 400), ({"color": "blue"}, "color", 400),
            ({"hotkey": "1"}, "hotkey", 409), ({"hotkey": "0"}, "hotkey", 400),
            ({"name": "ok", "hotkey": "q"}, "hotkey", 400)]:
        error = refused(session_factory, update_label, dataset_id, labels["peak"], **kwargs)
        assert (error.field, error.status) == (field, status), kwargs
    assert classes(session_factory, dataset_id)[1] == ("peak", "#56B4E9", "9", False)

    assert refused(session_factory, update_label, dataset_id, 99_999, name="x").status == 404
    error = refused(session_factory, update_label, 99_999, labels["peak"], name="x")
    assert (error.field, error.status) == ("dataset_id", 404)


def test_reorder_labels(session_factory, dataset):
    dataset_id, _, labels = dataset
    ring, peak, halo = labels["ring"], labels["peak"], labels["halo"]
    with transaction(session_factory) as session:
        ordered = reorder_labels(session, dataset_id, [halo, ring, peak])
    assert [(label.name, label.position) for label in ordered] == \
        [("halo", 1), ("ring", 2), ("peak", 3)]
    assert [c[0] for c in classes(session_factory, dataset_id)] == ["halo", "ring", "peak"]

    for order, word in [([halo, ring], "leaves out label"), ([halo, ring, peak, ring], "twice"),
                        ([halo, ring, peak, 99_999], "99999"), ([], "leaves out")]:
        error = refused(session_factory, reorder_labels, dataset_id, order)
        assert error.field == "label_ids" and word in str(error), (order, str(error))

    with transaction(session_factory) as session:
        delete_label(session, dataset_id, peak, "ana")
    error = refused(session_factory, reorder_labels, dataset_id, [peak, ring, halo])
    assert str(peak) in str(error)  # a deleted class is not part of the order
    with transaction(session_factory) as session:
        reorder_labels(session, dataset_id, [ring, halo])
    assert [c[0] for c in classes(session_factory, dataset_id)] == ["ring", "halo"]


def test_delete_unused_label_archives_it_without_an_event(session_factory, dataset):
    dataset_id, ids, labels = dataset
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[0], labels["peak"])])
    with transaction(session_factory) as session:
        assert label_usage(session, dataset_id, labels["ring"]) == 0
        assert delete_label(session, dataset_id, labels["ring"], "ana") is None
    assert count_events(session_factory) == 1
    assert [c[0] for c in classes(session_factory, dataset_id)] == ["peak", "halo"]
    assert classes(session_factory, dataset_id, include_archived=True)[0][3] is True

    assert "deleted label" in str(refused(session_factory, create_label, dataset_id, "ring"))
    assert refused(session_factory, update_label, dataset_id, labels["peak"],
                   name="ring").status == 409
    assert refused(session_factory, delete_label, dataset_id, labels["ring"], "ana").status == 409
    assert refused(session_factory, update_label, dataset_id, labels["ring"],
                   color="#000000").status == 409
    assert refused(session_factory, apply_event, dataset_id, "ana", "manual",
                   [TagIn(ids[1], labels["ring"])]).field == "tags.label_id"
    with transaction(session_factory) as session:  # its hotkey is free again
        assert create_label(session, dataset_id, "streak").hotkey == "1"


def test_delete_in_use_needs_confirm_and_undo_brings_the_class_back(session_factory, dataset):
    dataset_id, ids, labels = dataset
    ring, peak = labels["ring"], labels["peak"]
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "similarity",
                    [TagIn(ids[0], ring, 0.9), TagIn(ids[1], ring), TagIn(ids[2], peak),
                     TagIn(ids[5], ring, 0.7)])
    before = current(session_factory, dataset_id)

    error = refused(session_factory, delete_label, dataset_id, ring, "ben")
    assert (error.field, error.status) == ("confirm", 409)
    assert "3 items" in str(error) and "confirm" in str(error)
    assert count_events(session_factory) == 1
    assert current(session_factory, dataset_id) == before
    assert refused(session_factory, delete_label, dataset_id, ring, " ", confirm=True).field == \
        "tagger"

    with transaction(session_factory) as session:
        assert label_usage(session, dataset_id, ring) == 3
        deletion = delete_label(session, dataset_id, ring, "ben", confirm=True)
    assert (deletion.method, deletion.tagger, deletion.n_tags) == ("manual", "ben", 3)
    assert deletion.params == {"deleted_label_id": ring, "label_name": "ring"}
    assert current(session_factory, dataset_id) == {ids[2]: (peak, None)}
    assert [c[0] for c in classes(session_factory, dataset_id)] == ["peak", "halo"]
    with session_factory() as session:
        assert label_usage(session, dataset_id, ring) == 0
        assert last_undoable_event(session, dataset_id, "ben").id == deletion.id

    with transaction(session_factory) as session:
        undo = undo_event(session, deletion.id, "ben")
    assert current(session_factory, dataset_id) == before
    assert classes(session_factory, dataset_id)[0] == ("ring", "#E69F00", "1", False)

    with transaction(session_factory) as session:  # redo: the class goes again
        redo = undo_event(session, undo.id, "ben")
    assert current(session_factory, dataset_id) == {ids[2]: (peak, None)}
    assert [c[0] for c in classes(session_factory, dataset_id)] == ["peak", "halo"]

    with transaction(session_factory) as session:
        undo_event(session, redo.id, "ben")
    assert current(session_factory, dataset_id) == before
    assert [c[0] for c in classes(session_factory, dataset_id)] == ["ring", "peak", "halo"]


def test_restored_class_gives_up_a_hotkey_taken_meanwhile(session_factory, dataset):
    dataset_id, ids, labels = dataset
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[0], labels["ring"])])
        deletion = delete_label(session, dataset_id, labels["ring"], "ana", confirm=True)
        assert create_label(session, dataset_id, "streak").hotkey == "1"
    with transaction(session_factory) as session:
        undo_event(session, deletion.id, "ana")
    names_keys = {name: key for name, _, key, _ in classes(session_factory, dataset_id)}
    assert names_keys == {"ring": None, "peak": "2", "halo": "3", "streak": "1"}


def test_undo_never_leaves_items_with_a_deleted_class(session_factory, dataset):
    dataset_id, ids, labels = dataset
    ring, peak = labels["ring"], labels["peak"]
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[0], ring)])
        deletion = delete_label(session, dataset_id, ring, "ana", confirm=True)
    with transaction(session_factory) as session:
        undo = undo_event(session, deletion.id, "ana")
        apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[1], ring)])
    # Redoing the deletion would leave ids[1] (labeled after the undo) with a deleted class.
    error = refused(session_factory, undo_event, undo.id, "ana")
    assert (error.field, error.status) == ("event_id", 409)
    assert "delete the label again" in str(error)
    assert current(session_factory, dataset_id) == {ids[0]: (ring, None), ids[1]: (ring, None)}
    assert classes(session_factory, dataset_id)[0][0] == "ring"

    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[4], peak)])
        relabel = apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[4], ring)])
        delete_label(session, dataset_id, peak, "ana")  # unused by now: archived, no event
    # Undoing the relabeling would give ids[4] back its earlier, deleted class.
    error = refused(session_factory, undo_event, relabel.id, "ana")
    assert (error.field, error.status) == ("event_id", 409)
    assert "deleted label 'peak'" in str(error)
    assert current(session_factory, dataset_id)[ids[4]] == (ring, None)
    with session_factory() as session:
        assert session.get(LabelClass, peak).archived
