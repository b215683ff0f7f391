"""Label classes of a data set, and its tagging events: record, list, undo, and the current
label of every item they leave."""
from __future__ import annotations

from flask_openapi3 import Tag

from api.blueprints import resource_blueprint, tagger_of
from api.error_answers import responses
from api.models import (CurrentLabelOut, CurrentLabelsOut, CurrentLabelsQuery, DatasetPath,
                        DeleteLabelQuery, EventIn, EventListOut, EventOut, EventPath,
                        LabelDeleteOut, LabelIn, LabelListOut, LabelOrderIn, LabelOut,
                        LabelPatchIn, LabelPath, PageQuery, UndoIn)
from auth.ownership import check_may_undo
from db import labels as label_store
from db import store
from db.session import transaction
from db.undo import undo_event as undo_tagging_event
from services import current_services

LABELS = Tag(name="labels", description="label classes of a data set")
EVENTS = Tag(name="events", description="the append-only log of tagging events, and undo")

blueprint = resource_blueprint("labels")


def _label_out(label) -> LabelOut:
    return LabelOut(id=label.id, name=label.name, color=label.color, hotkey=label.hotkey,
                    position=label.position)


@blueprint.get("/datasets/<int:dataset_id>/labels", tags=[LABELS],
               summary="The label classes of a data set, in display order",
               responses=responses(200, LabelListOut, 404))
def list_labels(path: DatasetPath):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        labels = label_store.list_labels(session, path.dataset_id)
    return LabelListOut(labels=[_label_out(label) for label in labels]).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/labels", tags=[LABELS],
                summary="Add a label class (colour and hotkey default to the next free ones)",
                responses=responses(201, LabelOut, 400, 404, 409, 415))
def create_label(path: DatasetPath, body: LabelIn):
    with transaction(current_services().session_factory) as session:
        label = label_store.create_label(session, path.dataset_id, body.name, body.color,
                                         body.hotkey)
    return _label_out(label).model_dump(mode="json"), 201


@blueprint.patch("/datasets/<int:dataset_id>/labels/<int:label_id>", tags=[LABELS],
                 summary="Rename, recolour or re-key a label class",
                 description="Fields left out stay as they are; hotkey '' takes the key away.",
                 responses=responses(200, LabelOut, 400, 404, 409, 415))
def update_label(path: LabelPath, body: LabelPatchIn):
    with transaction(current_services().session_factory) as session:
        label = label_store.update_label(session, path.dataset_id, path.label_id, body.name,
                                         body.color, body.hotkey)
    return _label_out(label).model_dump(mode="json")


@blueprint.put("/datasets/<int:dataset_id>/labels/order", tags=[LABELS],
               summary="Put the label classes in a new display order",
               responses=responses(200, LabelListOut, 400, 404, 415))
def reorder_labels(path: DatasetPath, body: LabelOrderIn):
    with transaction(current_services().session_factory) as session:
        labels = label_store.reorder_labels(session, path.dataset_id, body.label_ids)
    return LabelListOut(labels=[_label_out(label) for label in labels]).model_dump(mode="json")


@blueprint.delete("/datasets/<int:dataset_id>/labels/<int:label_id>", tags=[LABELS],
                  summary="Delete a label class; one that items carry needs confirm=true",
                  description="A class in use is deleted by unlabeling its items in one "
                              "tagging event; undoing that event brings the class and its "
                              "labels back.",
                  responses=responses(200, LabelDeleteOut, 400, 404, 409))
def delete_label(path: LabelPath, query: DeleteLabelQuery):
    services = current_services()
    with transaction(services.session_factory) as session:
        event = label_store.delete_label(session, path.dataset_id, path.label_id,
                                         tagger_of(query.tagger), query.confirm)
    return LabelDeleteOut(label_id=path.label_id, event_id=event.id if event else None,
                          unlabeled=event.n_tags if event else 0).model_dump(mode="json")


def _event_out(event) -> EventOut:
    return EventOut(id=event.id, dataset_id=event.dataset_id, tagger=event.tagger,
                    method=event.method, params=event.params, n_tags=event.n_tags,
                    undoes_event_id=event.undoes_event_id, created_at=event.created_at)


@blueprint.post("/datasets/<int:dataset_id>/events", tags=[EVENTS],
                summary="Record one tagging event (many tags); all of it or nothing",
                responses=responses(201, EventOut, 400, 404, 415))
def create_event(path: DatasetPath, body: EventIn):
    tags = [store.TagIn(t.item_id, t.label_id, t.confidence) for t in body.tags]
    with transaction(current_services().session_factory) as session:
        event = store.apply_event(session, path.dataset_id, tagger_of(body.tagger),
                                  body.method, tags, body.params)
    return _event_out(event).model_dump(mode="json"), 201


@blueprint.get("/datasets/<int:dataset_id>/events", tags=[EVENTS],
               summary="The tagging events of a data set, newest first",
               responses=responses(200, EventListOut, 404))
def list_events(path: DatasetPath, query: PageQuery):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        events = store.list_events(session, path.dataset_id, query.offset, query.limit)
    return EventListOut(offset=query.offset, limit=query.limit,
                        events=[_event_out(event) for event in events]).model_dump(mode="json")


@blueprint.post("/events/<int:event_id>/undo", tags=[EVENTS],
                summary="Undo an event by writing its compensating event",
                description="Items changed again by a later event keep that later label. "
                            "Undoing an undo re-applies the original event.",
                responses=responses(201, EventOut, 400, 404, 409, 415))
def undo_event(path: EventPath, body: UndoIn):
    services = current_services()
    with transaction(services.session_factory) as session:
        check_may_undo(session, path.event_id)
        event = undo_tagging_event(session, path.event_id, tagger_of(body.tagger))
    return _event_out(event).model_dump(mode="json"), 201


@blueprint.get("/datasets/<int:dataset_id>/current-labels", tags=[EVENTS],
               summary="The current label of every labeled item (paged), with counts",
               responses=responses(200, CurrentLabelsOut, 404))
def current_labels(path: DatasetPath, query: CurrentLabelsQuery):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        classes = label_store.list_labels(session, path.dataset_id, include_archived=True)
        counts = store.label_counts(session, path.dataset_id)
        rows = list(store.current_labels(session, path.dataset_id, query.offset, query.limit))
    names = {label.id: label.name for label in classes}
    labels = [CurrentLabelOut(item_id=item_id, uri=uri, label_id=label_id, label=names[label_id],
                              event_id=event_id, confidence=confidence)
              for item_id, uri, label_id, event_id, confidence in rows]
    return CurrentLabelsOut(
        offset=query.offset, limit=query.limit, labels=labels,
        counts={label.name: counts.per_label.get(label.id, 0) for label in classes
                if not label.archived or counts.per_label.get(label.id)},
        labeled=counts.labeled, total=counts.total).model_dump(mode="json")
