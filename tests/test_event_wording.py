"""The history panel's words for tagging events (callbacks/event_wording.py), from the
counts db/event_summaries.py reads on SQLite and PostgreSQL."""
import pytest

from callbacks.event_wording import ClassName, as_text, describe_event
from db.event_summaries import tags_by_label, undone_by
from db.labels import delete_label, list_labels
from db.session import transaction
from db.store import TagIn, apply_event, list_events
from db.undo import undo_event
from tests.databases import make_dataset

RINGS, PEAKS, ARCS = 1, 2, 3
CLASSES = {RINGS: ClassName("rings", "#56B4E9"), PEAKS: ClassName("peaks", "#CC79A7"),
           ARCS: ClassName("arcs", "#009E73")}


def words(method, counts, params=None, n_tags=None):
    n_tags = sum(counts.values()) if n_tags is None else n_tags
    return as_text(describe_event(method, params or {}, n_tags, counts, CLASSES))


@pytest.mark.parametrize("method, counts, params, expected", [
    ("manual", {RINGS: 3}, {}, "labeled 3 items rings"),
    ("manual", {RINGS: 1}, {}, "labeled 1 item rings"),
    ("manual", {None: 2}, {}, "unlabeled 2 items"),
    ("manual", {RINGS: 3, PEAKS: 2}, {}, "labeled 5 items: 3 rings, 2 peaks"),
    ("manual", {PEAKS: 1, None: 1}, {"validation_checkpoint": True},
     "labeled 2 items: 1 peaks, 1 unlabeled from a checkpoint"),
    ("similarity", {ARCS: 20}, {}, "labeled 20 items arcs by similarity"),
    ("probability", {PEAKS: 40}, {"threshold": 0.9},
     "labeled 40 items peaks at probability ≥ 0.9"),
    ("cluster", {None: 12}, {}, "unlabeled 12 items in the explorer"),
    ("suggestion", {RINGS: 30, PEAKS: 18}, {},
     "labeled 48 items: 30 rings, 18 peaks from suggestions"),
    ("import", {RINGS: 100, PEAKS: 50}, {}, "imported 150 items: 100 rings, 50 peaks"),
    ("import", {None: 4}, {}, "imported 4 items as unlabeled"),
])
def test_events_in_words(method, counts, params, expected):
    assert words(method, counts, params) == expected


def test_undo_and_deletion_in_words():
    assert words("undo", {RINGS: 3}, {"undoes_event_id": 14, "kept_later_changes": 0}) == \
        "undid #14 (3 items)"
    assert words("undo", {None: 2}, {"undoes_event_id": 14, "kept_later_changes": 1}) == \
        "undid #14 (2 items; 1 item changed since kept their label)"
    assert words("manual", {None: 2}, {"deleted_label_id": PEAKS, "label_name": "peaks"}) == \
        "deleted class peaks and unlabeled 2 items"
    assert words("manual", {None: 2}, {"deleted_label_id": 99, "label_name": "halo"}) == \
        "deleted class halo and unlabeled 2 items"


def test_class_names_are_parts_the_page_draws_in_their_colour():
    parts = describe_event("manual", {}, 3, {RINGS: 3}, CLASSES)
    assert parts == ["labeled ", "3 items ", ClassName("rings", "#56B4E9")]
    mixed = describe_event("manual", {}, 9, {RINGS: 5, PEAKS: 3, 99: 1}, CLASSES)
    assert [p for p in mixed if isinstance(p, ClassName)] == [
        CLASSES[RINGS], CLASSES[PEAKS], ClassName("class 99", "#6c757d")]


def test_many_classes_in_one_event_are_cut_short():
    counts = {label: 10 - label for label in range(1, 7)}
    assert words("import", counts) == \
        "imported 39 items: 9 rings, 8 peaks, 7 arcs, 6 class 4 and 2 more"


def test_history_counts_from_the_database(session_factory):
    dataset_id, items, labels = make_dataset(session_factory, 6, ("rings", "peaks"))
    with transaction(session_factory) as session:
        first = apply_event(session, dataset_id, "root", "manual",
                            [TagIn(i, labels["rings"]) for i in items[:3]]).id
        mixed = apply_event(session, dataset_id, "root", "manual",
                            [TagIn(items[3], labels["peaks"]), TagIn(items[0], None)]).id
        undo = undo_event(session, first, "root").id
        deletion = delete_label(session, dataset_id, labels["peaks"], "root", confirm=True).id
    with session_factory() as session:
        events = list_events(session, dataset_id)
        counts = tags_by_label(session, [event.id for event in events])
        undone = undone_by(session, [event.id for event in events])
        classes = {label.id: ClassName(label.name, label.color)
                   for label in list_labels(session, dataset_id, include_archived=True)}
        nothing = (tags_by_label(session, []), undone_by(session, []))
        described = {event.id: as_text(describe_event(event.method, event.params, event.n_tags,
                                                      counts[event.id], classes))
                     for event in events}
    assert counts[first] == {labels["rings"]: 3}
    assert counts[mixed] == {labels["peaks"]: 1, None: 1}
    assert undone == {first: undo}
    assert nothing == ({}, {})
    assert described == {
        first: "labeled 3 items rings",
        mixed: "labeled 2 items: 1 peaks, 1 unlabeled",
        undo: "undid #%d (2 items; 1 item changed since kept their label)" % first,
        deletion: "deleted class peaks and unlabeled 1 item"}
