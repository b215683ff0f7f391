"""Undo: a compensating tagging event, and the label classes kept in step with it.

Undoing an event writes an ``undo`` event that gives its items back the labels they had
just before it (items changed again later keep the later label). An undo can itself be
undone. Undoing a class deletion (``db.labels.delete_label``) brings the class back.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from db.labels import items_text, list_labels, taken_hotkeys
from db.models import CurrentLabel, LabelClass, Tag, TaggingEvent
from db.store import TagIn, lock_labels, write_event
from errors import DomainError


def _undo_of(session: Session, event_id: int) -> Optional[TaggingEvent]:
    """The undo event that currently cancels ``event_id``, if any (an undone undo does not)."""
    undos = session.scalars(select(TaggingEvent).where(
        TaggingEvent.undoes_event_id == event_id).order_by(TaggingEvent.id.desc())).all()
    for undo in undos:
        if _undo_of(session, undo.id) is None:
            return undo
    return None


def is_undone(session: Session, event_id: int) -> bool:
    """Whether an undo currently cancels ``event_id`` (an undone undo does not)."""
    return _undo_of(session, event_id) is not None


def undo_event(session: Session, event_id: int, tagger: str) -> TaggingEvent:
    """Write the compensating event of ``event_id``.

    Items whose label was changed again by a later event keep that later label; the
    others get back the label they had just before ``event_id``. Undoing a label-class
    deletion brings the class back (see ``_keep_classes_in_step``).
    """
    event = session.get(TaggingEvent, event_id)
    if event is None:
        raise DomainError(f"event {event_id} does not exist", "event_id", status=404)
    if not tagger or not tagger.strip():
        raise DomainError("tagger is empty; say who is undoing", "tagger")
    lock_labels(session, event.dataset_id)  # two undos of one event: the second sees the first
    if (undo := _undo_of(session, event_id)) is not None:
        raise DomainError(f"event {event_id} was already undone by event {undo.id}",
                          "event_id", status=409)
    later = aliased(Tag)
    earlier = aliased(Tag)
    newer_exists = select(later.id).where(later.item_id == Tag.item_id,
                                          later.event_id > event_id).exists()

    def previous(column):
        return (select(column).where(earlier.item_id == Tag.item_id,
                                     earlier.event_id < event_id)
                .order_by(earlier.event_id.desc()).limit(1).scalar_subquery())

    rows = session.execute(
        select(Tag.item_id, previous(earlier.label_id), previous(earlier.confidence))
        .where(Tag.event_id == event_id, ~newer_exists)).all()
    tags = [TagIn(item_id, label_id, confidence) for item_id, label_id, confidence in rows]
    params = {"undoes_event_id": event_id, "kept_later_changes": event.n_tags - len(tags)}
    undo = write_event(session, event.dataset_id, tagger.strip(), "undo", tags, params,
                       undoes_event_id=event_id)
    _keep_classes_in_step(session, event)
    return undo


def last_undoable_event(session: Session, dataset_id: int, tagger: str) -> Optional[TaggingEvent]:
    """This tagger's most recent event that is not an undo and is not undone yet."""
    candidates = session.scalars(select(TaggingEvent).where(
        TaggingEvent.dataset_id == dataset_id, TaggingEvent.tagger == tagger,
        TaggingEvent.method != "undo").order_by(TaggingEvent.id.desc()).limit(50))
    return next((e for e in candidates if _undo_of(session, e.id) is None), None)


def _chain_root(session: Session, event: TaggingEvent) -> TaggingEvent:
    """The event that ``event`` undoes, or that the undo it undoes undid, and so on."""
    while event.undoes_event_id is not None:
        event = session.get(TaggingEvent, event.undoes_event_id)
    return event


def _deleted_label(session: Session, event: TaggingEvent) -> Optional[LabelClass]:
    """The class that ``event`` deleted (see ``delete_label``), if it is a deletion."""
    label_id = event.params.get("deleted_label_id") if event.method == "manual" else None
    label = session.get(LabelClass, label_id) if isinstance(label_id, int) else None
    return label if label is not None and label.dataset_id == event.dataset_id else None


def _restore(session: Session, label: LabelClass) -> None:
    taken = taken_hotkeys(list_labels(session, label.dataset_id), label.id)
    if label.hotkey in taken:  # the key went to another class while this one was deleted
        label.hotkey = None
    label.archived = False


def _refuse_deleted_labels_in_use(session: Session, undone: TaggingEvent,
                                  deleted: Optional[LabelClass]) -> None:
    in_use = session.execute(
        select(LabelClass.id, LabelClass.name, func.count())
        .join(CurrentLabel, (CurrentLabel.label_id == LabelClass.id)
              & (CurrentLabel.dataset_id == LabelClass.dataset_id))
        .where(LabelClass.dataset_id == undone.dataset_id, LabelClass.archived.is_(True))
        .group_by(LabelClass.id, LabelClass.name).limit(1)).first()
    if in_use is None:
        return
    label_id, name, count = in_use
    if deleted is not None and label_id == deleted.id:
        message = (f"deleting label '{name}' again would leave {items_text(count)} that were "
                   "labeled with it after its deletion was undone; delete the label again "
                   "instead")
    else:
        message = (f"undoing event {undone.id} would give {items_text(count)} the deleted label "
                   f"'{name}'; undo the label's deletion first, or label them by hand")
    raise DomainError(message, "event_id", status=409)


def _keep_classes_in_step(session: Session, undone: TaggingEvent) -> None:
    """Keep the classes in step with the labels once ``undone`` has been undone.

    Runs in the undo's transaction. Undoing a class deletion brings
    the class back and undoing that undo deletes it again; no undo may leave items with a
    deleted class (DomainError 409, which rolls the undo back).
    """
    root = _chain_root(session, undone)
    deleted = _deleted_label(session, root)
    if deleted is not None:
        if is_undone(session, root.id):
            _restore(session, deleted)
        else:
            deleted.archived = True
        session.flush()
    _refuse_deleted_labels_in_use(session, undone, deleted)
