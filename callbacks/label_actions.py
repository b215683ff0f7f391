"""How the labeling page reads a labeling action (a key the page's keyboard script reports,
or a class, unlabel or undo button) and the label class that action gives. The gallery
(label.py) labels with it; a validation checkpoint (label_guided.py) takes its answers
with it, so an answer is given exactly like a label."""
from __future__ import annotations

from typing import Optional, Union

from sqlalchemy.orm import Session

from callbacks.ids import Label as ids
from db.labels import label_with_hotkey


def read_action(trigger, key_press) -> tuple[str, Union[int, str, None]]:
    """('label', label id), ('hotkey', key), ('unlabel', None) or ('undo', None)."""
    if trigger == ids.KEY:
        key = (key_press or {}).get("key")
        if key == "undo":
            return "undo", None
        if key == "unlabel":
            return "unlabel", None
        return "hotkey", key
    if trigger == ids.UNLABEL:
        return "unlabel", None
    if trigger == ids.UNDO:
        return "undo", None
    return "label", trigger["index"]


def label_of_action(session: Session, dataset_id: int, action: str,
                    argument: Union[int, str, None]) -> Optional[int]:
    """The label id a labeling action gives: None to unlabel, the class of a hotkey (a
    DomainError when no class has it) or the clicked class."""
    if action == "unlabel":
        return None
    if action == "hotkey":
        return label_with_hotkey(session, dataset_id, argument).id
    return argument
