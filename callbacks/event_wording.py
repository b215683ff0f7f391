"""A tagging event in words, as the history panel shows it: "labeled 3 items rings",
"undid #14 (3 items)", "deleted class peaks and unlabeled 2 items".

The words are parts: plain text, and class names (``ClassName``) that the page draws as
pills in the class's colour. ``as_text`` joins them for tests and tooltips.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Union

from db.labels import items_text

UNKNOWN_CLASS_COLOR = "#6c757d"
LISTED_CLASSES = 4  # a mixed event names this many classes, then "and n more"


@dataclass(frozen=True)
class ClassName:
    name: str
    color: str


Part = Union[str, ClassName]

# How a method's event ends its sentence (the verb is "labeled" unless said otherwise).
METHOD_SUFFIX = {"similarity": " by similarity", "cluster": " in the explorer",
                 "suggestion": " from suggestions"}


def as_text(parts: list[Part]) -> str:
    return "".join(part if isinstance(part, str) else part.name for part in parts)


def _class(classes: Mapping[int, ClassName], label_id: int) -> ClassName:
    return classes.get(label_id) or ClassName(f"class {label_id}", UNKNOWN_CLASS_COLOR)


def _breakdown(counts: Mapping[Optional[int], int],
               classes: Mapping[int, ClassName]) -> tuple[str, list[Part]]:
    """The verb ("labeled" or "unlabeled") and what the event gave its items."""
    total = sum(counts.values())
    if set(counts) == {None}:
        return "unlabeled", [items_text(total)]
    if len(counts) == 1:
        (label_id,) = counts
        return "labeled", [f"{items_text(total)} ", _class(classes, label_id)]
    parts: list[Part] = [f"{items_text(total)}:"]
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0] is None, pair[0] or 0))
    for n, (label_id, count) in enumerate(ranked[:LISTED_CLASSES]):
        parts.append(f"{',' if n else ''} {count:,} ")
        parts.append("unlabeled" if label_id is None else _class(classes, label_id))
    if len(ranked) > LISTED_CLASSES:
        parts.append(f" and {len(ranked) - LISTED_CLASSES} more")
    return "labeled", parts


def _undo_words(params: Mapping, n_tags: int) -> list[Part]:
    kept = params.get("kept_later_changes") or 0
    changed_later = f"; {items_text(kept)} changed since kept their label" if kept else ""
    return [f"undid #{params.get('undoes_event_id')} ({items_text(n_tags)}{changed_later})"]


def describe_event(method: str, params: Mapping, n_tags: int,
                   counts: Mapping[Optional[int], int],
                   classes: Mapping[int, ClassName]) -> list[Part]:
    """What an event did, without its number and tagger: ``counts`` are its items by the
    label it gave them (None: unlabeled), ``classes`` the data set's classes (deleted too)."""
    if method == "undo":
        return _undo_words(params, n_tags)
    if "deleted_label_id" in params:
        deleted = classes.get(params["deleted_label_id"]) \
            or ClassName(params.get("label_name", "?"), UNKNOWN_CLASS_COLOR)
        return ["deleted class ", deleted, f" and unlabeled {items_text(n_tags)}"]
    if not counts:
        return [f"{method}: no items"]
    verb, what = _breakdown(counts, classes)
    if method == "import":
        return ["imported ", *what] if verb == "labeled" else ["imported ", *what, " as unlabeled"]
    suffix = METHOD_SUFFIX.get(method, "")
    if method == "probability" and params.get("threshold") is not None:
        suffix = f" at probability ≥ {params['threshold']:g}"
    if params.get("validation_checkpoint"):
        suffix = " from a checkpoint"
    return [f"{verb} ", *what] + ([suffix] if suffix else [])
