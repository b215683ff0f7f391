"""Label classes of a data set: name, colour, hotkey and order."""
from __future__ import annotations

import re
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import LabelClass
from db.store import StoreError, get_dataset

# Distinct colours in a colour-blind-friendly order (Okabe-Ito, then Tableau).
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
           "#999999", "#8C564B", "#17BECF", "#BCBD22", "#7F7F7F")
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
    """The label class ``label_id`` of this data set (archived or not), or a 404 StoreError."""
    label = session.get(LabelClass, label_id)
    if label is None or label.dataset_id != dataset_id:
        raise StoreError(f"label {label_id} is not a label class of data set {dataset_id}; "
                         "use the id of one of its labels", field, status=404)
    return label


def create_label(session: Session, dataset_id: int, name: str, color: Optional[str] = None,
                 hotkey: Optional[str] = None) -> LabelClass:
    """Add a label class; colour and hotkey default to the next free ones."""
    get_dataset(session, dataset_id)
    name = (name or "").strip()
    if not name:
        raise StoreError("a label needs a name", "name")
    if len(name) > 100:
        raise StoreError("label names are at most 100 characters", "name")
    existing = list_labels(session, dataset_id, include_archived=True)
    if any(label.name == name and not label.archived for label in existing):
        raise StoreError(f"data set {dataset_id} already has a label named '{name}'", "name",
                         status=409)
    if any(label.name == name for label in existing):
        raise StoreError(f"a deleted label is named '{name}'; undo its deletion or pick "
                         "another name", "name", status=409)
    active = [label for label in existing if not label.archived]
    if color is None:
        used = {label.color.upper() for label in active}
        color = next((c for c in PALETTE if c.upper() not in used), PALETTE[len(active) % 12])
    if not _COLOR.match(color):
        raise StoreError(f"colour '{color}' is not of the form #RRGGBB", "color")
    taken = {label.hotkey for label in active if label.hotkey}
    if hotkey is None:
        hotkey = next((key for key in HOTKEYS if key not in taken), None)
    elif hotkey not in HOTKEYS:
        raise StoreError(f"hotkey '{hotkey}' is not one of 1..9", "hotkey")
    elif hotkey in taken:
        raise StoreError(f"hotkey {hotkey} is already used by another label", "hotkey",
                         status=409)
    position = (session.scalar(select(func.max(LabelClass.position))
                               .where(LabelClass.dataset_id == dataset_id)) or 0) + 1
    label = LabelClass(dataset_id=dataset_id, name=name, color=color, hotkey=hotkey,
                       position=position)
    session.add(label)
    session.flush()
    return label
