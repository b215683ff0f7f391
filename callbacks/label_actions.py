"""How the labeling page reads a labeling action (a key press or a class, unlabel or undo
button, which the page's keyboard script queues and reports one at a time through the
label-key store) and the label class that action gives. The gallery (label.py) labels with
it; a validation checkpoint (label_guided.py) takes its answers with it, so an answer is
given exactly like a label."""
from __future__ import annotations

from typing import Optional, Union

from sqlalchemy.orm import Session

from callbacks.ids import Label as ids
from db.labels import label_with_hotkey
from db.undo import last_undoable_event, undo_event
from errors import DomainError

MAX_ITEMS = 1000  # tiles one action may label: more than the largest page


def read_action(trigger, key_press) -> tuple[str, Union[int, str, None]]:
    """('label', label id), ('hotkey', key), ('unlabel', None) or ('undo', None)."""
    if trigger == ids.KEY:
        key = (key_press or {}).get("key")
        if key in ("undo", "unlabel"):
            return key, None
        if isinstance(key, str) and key.startswith("label:"):
            return "label", _label_id(key.split(":", 1)[1])
        if isinstance(key, str) and len(key) == 1 and key.isdigit():
            return "hotkey", key
        raise DomainError(f"unknown labeling key {key!r}; use 1-9, u or z", "key")
    if trigger == ids.UNLABEL:
        return "unlabel", None
    if trigger == ids.UNDO:
        return "undo", None
    return "label", trigger["index"]


def _label_id(text: str) -> int:
    if not text.isdigit():
        raise DomainError(f"label {text!r} is not a label class id", "key")
    return int(text)


def items_of(key_press, selection) -> list[int]:
    """The tiles an action applies to: those selected when the key was pressed (the
    keyboard script sends them along), else the page's selection now."""
    items = (key_press or {}).get("items", selection)
    if not items or not isinstance(items, list) or not all(type(i) is int and i > 0 for i in items):
        raise DomainError("the action names no tiles; select tiles first (click, "
                          "shift-click, or a for the page)", "selection")
    if len(items) > MAX_ITEMS:
        raise DomainError(f"{len(items):,} tiles in one action; label at most {MAX_ITEMS:,} "
                          "at a time", "selection")
    return items


def label_of_action(session: Session, dataset_id: int, action: str,
                    argument: Union[int, str, None]) -> Optional[int]:
    """The label id a labeling action gives: None to unlabel, the class of a hotkey (a
    DomainError when no class has it) or the clicked class."""
    if action == "unlabel":
        return None
    if action == "hotkey":
        return label_with_hotkey(session, dataset_id, argument).id
    return argument


def undo_last(session: Session, dataset_id: int, tagger: str) -> int:
    """Undo ``tagger``'s newest undoable event (the `z` key); its id."""
    event = last_undoable_event(session, dataset_id, tagger)
    if event is None:
        raise DomainError(f"{tagger} has nothing left to undo", "tagger")
    undo_event(session, event.id, tagger)
    return event.id
