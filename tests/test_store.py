"""The tagging-event store on SQLite and PostgreSQL (fixture ``session_factory``)."""
import pytest

from db.labels import create_label, list_labels
from data.live_ingest import register_arrivals
from data.sources.base import Listing
from db.models import Dataset, Item, Tag, TaggingEvent
from db.session import transaction
from tests.databases import make_dataset
from db.store import (TagIn, apply_event, count_items, current_labels, items_page, label_counts,
                      label_methods, labels_as_of, list_events, newest_item)
from db.undo import last_undoable_event, undo_event
from errors import DomainError


@pytest.fixture
def dataset(session_factory):
    """A data set of 20 items (img_00..img_19) with labels 'ring' and 'peak'."""
    dataset_id, ids, labels = make_dataset(session_factory, 20, ("ring", "peak"))
    return dataset_id, ids, labels["ring"], labels["peak"]


def label_of(session_factory, dataset_id):
    with session_factory() as session:
        return {item: label for item, _, label, _, _ in current_labels(session, dataset_id)}


def test_apply_event_writes_log_and_current_labels(session_factory, dataset):
    dataset_id, ids, ring, peak = dataset
    with transaction(session_factory) as session:
        event = apply_event(session, dataset_id, "ana", "manual",
                            [TagIn(ids[0], ring), TagIn(ids[1], ring), TagIn(ids[2], peak, 0.8)],
                            params={"note": "first"})
    assert label_of(session_factory, dataset_id) == {ids[0]: ring, ids[1]: ring, ids[2]: peak}
    with session_factory() as session:
        stored = session.get(TaggingEvent, event.id)
        assert (stored.tagger, stored.method, stored.n_tags, stored.params) == \
            ("ana", "manual", 3, {"note": "first"})
        counts = label_counts(session, dataset_id)
        assert counts.per_label == {ring: 2, peak: 1}
        assert (counts.total, counts.labeled, counts.unlabeled) == (20, 3, 17)
        assert [r.id for r in items_page(session, dataset_id, label_id=ring)] == ids[:2]
        assert [r.id for r in items_page(session, dataset_id, unlabeled=True, limit=3)] == ids[3:6]
        assert count_items(session, dataset_id, unlabeled=True) == 17
        assert items_page(session, dataset_id, offset=2, limit=1)[0].label_id == peak


def test_relabel_and_unlabel(session_factory, dataset):
    dataset_id, ids, ring, peak = dataset
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[0], ring), TagIn(ids[1], ring)])
        apply_event(session, dataset_id, "ben", "manual", [TagIn(ids[0], peak), TagIn(ids[1], None)])
    assert label_of(session_factory, dataset_id) == {ids[0]: peak}


def test_undo_restores_previous_labels_but_keeps_later_changes(session_factory, dataset):
    dataset_id, ids, ring, peak = dataset
    with transaction(session_factory) as session:
        first = apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[0], ring)])
        second = apply_event(session, dataset_id, "ana", "similarity",
                             [TagIn(i, peak) for i in ids[:4]])
        later = apply_event(session, dataset_id, "ben", "manual", [TagIn(ids[3], ring)])
    with transaction(session_factory) as session:
        undo = undo_event(session, second.id, "ana")
    assert undo.method == "undo" and undo.undoes_event_id == second.id
    assert undo.params == {"undoes_event_id": second.id, "kept_later_changes": 1}
    assert label_of(session_factory, dataset_id) == {ids[0]: ring, ids[3]: ring}
    with (transaction(session_factory) as session,
          pytest.raises(DomainError, match="already undone")):
        undo_event(session, second.id, "ana")
    with transaction(session_factory) as session:  # undoing the undo re-applies the event
        undo_event(session, undo.id, "ana")
    assert label_of(session_factory, dataset_id) == {ids[0]: peak, ids[1]: peak, ids[2]: peak,
                                                     ids[3]: ring}
    with session_factory() as session:
        assert labels_as_of(session, dataset_id, first.id) == {ids[0]: ring}
        assert labels_as_of(session, dataset_id, second.id) == {i: peak for i in ids[:4]}
        assert labels_as_of(session, dataset_id, later.id)[ids[3]] == ring
        assert [e.method for e in list_events(session, dataset_id)] == \
            ["undo", "undo", "manual", "similarity", "manual"]
        assert last_undoable_event(session, dataset_id, "ana").id == second.id
        assert last_undoable_event(session, dataset_id, "ben").id == later.id


@pytest.mark.parametrize("tags, params, field", [
    ([], {}, "tags"),
    ([TagIn(-5, None)], {}, "tags.item_id"),
    ([TagIn(0, 999_999)], {}, "tags.label_id"),
    ([TagIn(0, None), TagIn(0, None)], {}, "tags.item_id"),
    ([TagIn(0, None, 1.5)], {}, "tags.confidence"),
    ([TagIn(0, None)], {"method": "guess"}, "method"),
    ([TagIn(0, None)], {"tagger": " "}, "tagger"),
])
def test_bad_events_are_refused_and_write_nothing(session_factory, dataset, tags, params, field):
    dataset_id, ids, ring, _ = dataset
    tags = [TagIn(ids[t.item_id] if t.item_id >= 0 else t.item_id, t.label_id, t.confidence)
            for t in tags]
    # A good tag first, so a half-written event would show.
    tags = [TagIn(ids[5], ring)] + tags if tags else tags
    call = {"tagger": "ana", "method": "manual", **params}
    with pytest.raises(DomainError) as raised:
        with transaction(session_factory) as session:
            apply_event(session, dataset_id, call["tagger"], call["method"], tags)
    assert raised.value.field == field
    with session_factory() as session:
        assert session.query(TaggingEvent).count() == 0 and session.query(Tag).count() == 0
    assert label_of(session_factory, dataset_id) == {}


def test_labels_of_another_data_set_are_refused(session_factory, dataset):
    dataset_id, ids, _, _ = dataset
    with transaction(session_factory) as session:
        other = Dataset(name="other", source_kind="directory", location="/x", status="ready")
        session.add(other)
        session.flush()
        foreign = create_label(session, other.id, "ring").id
    with pytest.raises(DomainError, match="not a label class"):
        with transaction(session_factory) as session:
            apply_event(session, dataset_id, "ana", "manual", [TagIn(ids[0], foreign)])


def test_label_classes_get_distinct_colours_and_hotkeys(session_factory, dataset):
    dataset_id, _, _, _ = dataset
    with transaction(session_factory) as session:
        third = create_label(session, dataset_id, "streak")
        labels = list_labels(session, dataset_id)
    assert [label.name for label in labels] == ["ring", "peak", "streak"]
    assert [label.hotkey for label in labels] == ["1", "2", "3"]
    assert len({label.color for label in labels}) == 3 and third.position == 3
    for kwargs, field in [({"name": "ring"}, "name"), ({"name": " "}, "name"),
                          ({"name": "x", "color": "red"}, "color"),
                          ({"name": "x", "hotkey": "1"}, "hotkey"),
                          ({"name": "x", "hotkey": "q"}, "hotkey")]:
        with pytest.raises(DomainError) as raised, transaction(session_factory) as session:
            create_label(session, dataset_id, **kwargs)
        assert raised.value.field == field


def test_page_orders(session_factory, dataset):
    dataset_id, ids, ring, peak = dataset
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual",
                    [TagIn(ids[1], peak), TagIn(ids[2], ring), TagIn(ids[3], peak)])
    with session_factory() as session:
        def page(order):
            return [row.id for row in items_page(session, dataset_id, limit=5, order=order)]
        assert page("name") == ids[:5]
        assert page("label") == [ids[2], ids[1], ids[3], ids[0], ids[4]]  # ring, peak, none
        assert page("unlabeled_first") == [ids[0]] + ids[4:8]
        with pytest.raises(DomainError) as raised:
            page("size")
        assert raised.value.field == "order"


def test_newest_first_pages_arrival_order_backwards(session_factory, dataset):
    dataset_id, ids, ring, peak = dataset
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual",
                    [TagIn(ids[1], peak), TagIn(ids[17], peak), TagIn(ids[18], ring)])
    # a live arrival is numbered after the last file: it comes first
    register_arrivals(session_factory, dataset_id, [Listing("late.tif")])
    with session_factory() as session:
        def pages(size=6, **filters):
            shown, offset = [], 0
            while page := items_page(session, dataset_id, offset=offset, limit=size,
                                     order="newest", **filters):
                shown.append([row.uri for row in page])
                offset += size
            return shown
        every = pages()
        assert [len(page) for page in every] == [6, 6, 6, 3]
        assert every[0][:3] == ["late.tif", "img_19.tif", "img_18.tif"]
        assert sum(every, []) == ["late.tif"] + [f"img_{i:02d}.tif" for i in range(19, -1, -1)]
        assert pages(unlabeled=True)[0][:3] == ["late.tif", "img_19.tif", "img_16.tif"]
        assert pages(size=1, label_id=peak) == [["img_17.tif"], ["img_01.tif"]]
        newest = session.get(Item, items_page(session, dataset_id, limit=1,
                                              order="newest")[0].id)
        assert newest_item(session, dataset_id) == newest.sort_key
        assert newest.arrived_at is not None


def test_labels_a_model_chose_are_told_from_hand_labels(session_factory, dataset):
    dataset_id, ids, ring, peak = dataset
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "ana", "manual",
                    [TagIn(ids[0], ring), TagIn(ids[1], peak)])
        apply_event(session, dataset_id, "ana", "suggestion",
                    [TagIn(ids[2], ring, 0.9), TagIn(ids[3], ring, 0.8), TagIn(ids[1], ring, 0.7)])
    with session_factory() as session:
        by_model = [row.id for row in items_page(session, dataset_id, labeled_by="model")]
        by_hand = [row.id for row in items_page(session, dataset_id, labeled_by="hand")]
        assert by_model == ids[1:4] and by_hand == [ids[0]]
        assert count_items(session, dataset_id, labeled_by="model") == 3
        assert count_items(session, dataset_id, labeled_by="hand") == 1
        assert label_methods(session, ids[:5]) == {
            ids[0]: "manual", ids[1]: "suggestion", ids[2]: "suggestion", ids[3]: "suggestion"}
        with pytest.raises(DomainError) as raised:
            items_page(session, dataset_id, labeled_by="robot")
        assert raised.value.field == "labeled_by"
