"""Label classes of a data set: name, colour, hotkey and order.

Deleting a class that items carry archives it and unlabels those items in one tagging
event; undoing that event (``db.undo.undo_event``) brings the class back. Archived
names stay reserved, so a restored class never clashes.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import CurrentLabel, LabelClass, TaggingEvent
from db.store import TagIn, apply_event, get_dataset
from errors import DomainError

# New classes take the first colour no active class has. Chosen (from Okabe-Ito, Paul Tol's
# and ColorBrewer's qualitative sets) so that consecutive colours, and any two of the first
# seven, differ at a glance, also under simulated red-green colour blindness; no greys,
# which read as "unlabeled". tests/test_colours.py measures this. Classes keep the colour
# they were given when the palette changes.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#CC3311", "#AA3377", "#B2DF8A",
           "#0072B2", "#F0E442", "#EE6677", "#228833", "#FF9DA7")
HOTKEYS = tuple("123456789")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def list_labels(session: Session, dataset_id: int,
                include_archived: bool = False) -> list[LabelClass]:
    query = select(LabelClass).where(LabelClass.dataset_id == dataset_id)
    if not include_archived:
        query = query.where(LabelClass.archived.is_(False))
    return list(session.scalars(query.order_by(LabelClass.position, LabelClass.id)))


def get_label(session: Session, dataset_id: int, label_id: int,
              field: str = "label_id") -> LabelClass:
    """The label class ``label_id`` of this data set (archived or not), or a 404 DomainError."""
    label = session.get(LabelClass, label_id)
    if label is None or label.dataset_id != dataset_id:
        raise DomainError(f"label {label_id} is not a label class of data set {dataset_id}; "
                          "use the id of one of its labels", field, status=404)
    return label


def label_with_hotkey(session: Session, dataset_id: int, hotkey: str) -> LabelClass:
    """The active class of this data set whose hotkey is ``hotkey``, or a DomainError."""
    label = next((label for label in list_labels(session, dataset_id)
                  if label.hotkey == hotkey), None)
    if label is None:
        raise DomainError(f"no class has hotkey {hotkey}; give one that hotkey in the class "
                          "list", "hotkey")
    return label


def items_text(count: int) -> str:
    return f"{count:,} item{'' if count == 1 else 's'}"


def next_palette_color(active: Sequence[LabelClass]) -> str:
    """The colour a new class gets by default: the first of PALETTE no active class has."""
    used = {label.color.upper() for label in active}
    return next((c for c in PALETTE if c.upper() not in used),
                PALETTE[len(active) % len(PALETTE)])


def _checked_name(labels: Sequence[LabelClass], name: Optional[str], dataset_id: int,
                  label_id: Optional[int] = None) -> str:
    """``name`` stripped, if no other class of ``labels`` (archived ones too) has it."""
    name = (name or "").strip()
    if not name:
        raise DomainError("a label needs a name", "name")
    if len(name) > 100:
        raise DomainError("label names are at most 100 characters", "name")
    others = [label for label in labels if label.id != label_id]
    if any(label.name == name and not label.archived for label in others):
        raise DomainError(f"data set {dataset_id} already has a label named '{name}'", "name",
                          status=409)
    if any(label.name == name for label in others):
        raise DomainError(f"a deleted label is named '{name}'; undo its deletion or pick "
                          "another name", "name", status=409)
    return name


def _checked_color(color: str) -> str:
    if not _COLOR.match(color):
        raise DomainError(f"colour '{color}' is not of the form #RRGGBB", "color")
    return color


def taken_hotkeys(labels: Sequence[LabelClass], label_id: Optional[int] = None) -> set[str]:
    return {label.hotkey for label in labels
            if label.hotkey and not label.archived and label.id != label_id}


def _checked_hotkey(labels: Sequence[LabelClass], hotkey: str,
                    label_id: Optional[int] = None) -> str:
    if hotkey not in HOTKEYS:
        raise DomainError(f"hotkey '{hotkey}' is not one of 1..9", "hotkey")
    if hotkey in taken_hotkeys(labels, label_id):
        raise DomainError(f"hotkey {hotkey} is already used by another label", "hotkey",
                          status=409)
    return hotkey


def create_label(session: Session, dataset_id: int, name: str, color: Optional[str] = None,
                 hotkey: Optional[str] = None) -> LabelClass:
    """Add a label class; colour and hotkey default to the next free ones."""
    get_dataset(session, dataset_id)
    existing = list_labels(session, dataset_id, include_archived=True)
    name = _checked_name(existing, name, dataset_id)
    active = [label for label in existing if not label.archived]
    color = _checked_color(next_palette_color(active) if color is None else color)
    if hotkey is None:
        taken = taken_hotkeys(existing)
        hotkey = next((key for key in HOTKEYS if key not in taken), None)
    else:
        hotkey = _checked_hotkey(existing, hotkey)
    position = (session.scalar(select(func.max(LabelClass.position))
                               .where(LabelClass.dataset_id == dataset_id)) or 0) + 1
    label = LabelClass(dataset_id=dataset_id, name=name, color=color, hotkey=hotkey,
                       position=position)
    session.add(label)
    session.flush()
    return label


def _active_label(session: Session, dataset_id: int, label_id: int) -> LabelClass:
    get_dataset(session, dataset_id)
    label = get_label(session, dataset_id, label_id)
    if label.archived:
        raise DomainError(f"label '{label.name}' ({label_id}) was deleted; undo its deletion "
                          "to use it again", "label_id", status=409)
    return label


def update_label(session: Session, dataset_id: int, label_id: int, name: Optional[str] = None,
                 color: Optional[str] = None, hotkey: Optional[str] = None) -> LabelClass:
    """Rename, recolour or re-key a class with the rules of ``create_label``.

    None leaves a field as it is; ``hotkey=""`` takes the class's hotkey away.
    """
    label = _active_label(session, dataset_id, label_id)
    labels = list_labels(session, dataset_id, include_archived=True)
    changes = {}
    if name is not None:
        changes["name"] = _checked_name(labels, name, dataset_id, label_id)
    if color is not None:
        changes["color"] = _checked_color(color)
    if hotkey is not None:
        changes["hotkey"] = _checked_hotkey(labels, hotkey, label_id) if hotkey else None
    for key, value in changes.items():
        setattr(label, key, value)
    session.flush()
    return label


def reorder_labels(session: Session, dataset_id: int,
                   ordered_ids: Sequence[int]) -> list[LabelClass]:
    """Give the classes positions 1..n in the order of ``ordered_ids``: every active class
    of the data set, each once."""
    get_dataset(session, dataset_id)
    labels = {label.id: label for label in list_labels(session, dataset_id)}
    ordered = list(ordered_ids)
    if repeated := [i for i, n in Counter(ordered).items() if n > 1]:
        raise DomainError(f"label {repeated[0]} appears twice in the order; list each label once",
                          "label_ids")
    if unknown := [i for i in ordered if i not in labels]:
        raise DomainError(f"label {unknown[0]} is not a label class of data set {dataset_id}; "
                          "list the ids of its labels", "label_ids")
    if missing := [label for i, label in labels.items() if i not in set(ordered)]:
        raise DomainError(f"the order leaves out label {missing[0].id} ('{missing[0].name}'); "
                          "list every label of the data set once", "label_ids")
    for position, label_id in enumerate(ordered, start=1):
        labels[label_id].position = position
    session.flush()
    return [labels[label_id] for label_id in ordered]


def _usage_query(dataset_id: int, label_id: int):
    return select(CurrentLabel.item_id).where(CurrentLabel.dataset_id == dataset_id,
                                              CurrentLabel.label_id == label_id)


def label_usage(session: Session, dataset_id: int, label_id: int) -> int:
    """How many items carry the class now."""
    get_dataset(session, dataset_id)
    get_label(session, dataset_id, label_id)
    return session.scalar(select(func.count()).select_from(
        _usage_query(dataset_id, label_id).subquery())) or 0


def delete_label(session: Session, dataset_id: int, label_id: int, tagger: str,
                 confirm: bool = False) -> Optional[TaggingEvent]:
    """Delete a class: archive it and, with ``confirm``, unlabel the items that carry it.

    The unlabeling is one tagging event (returned; None when no item carried the class),
    so undoing that event brings back the class and its labels. A class in use is
    refused without ``confirm`` (409).
    """
    label = _active_label(session, dataset_id, label_id)
    item_ids = list(session.scalars(_usage_query(dataset_id, label_id)))
    if item_ids and not confirm:
        raise DomainError(f"label '{label.name}' is on {items_text(len(item_ids))}; deleting it "
                          "unlabels them (undo brings them back): confirm to delete it",
                          "confirm", status=409)
    event = None
    if item_ids:
        event = apply_event(session, dataset_id, tagger, "manual",
                            [TagIn(item_id, None) for item_id in item_ids],
                            params={"deleted_label_id": label.id, "label_name": label.name})
    label.archived = True
    session.flush()
    return event
