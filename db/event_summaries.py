"""What a list of tagging events did, in two set-based queries: how many items each event
gave each label, and which later undo cancelled it. The history panel words these."""
from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Tag, TaggingEvent


def tags_by_label(session: Session,
                  event_ids: Sequence[int]) -> dict[int, dict[Optional[int], int]]:
    """{event id: {label id (None: unlabeled): items}} of the given events."""
    counts: dict[int, dict[Optional[int], int]] = {event_id: {} for event_id in event_ids}
    if not event_ids:
        return counts
    rows = session.execute(select(Tag.event_id, Tag.label_id, func.count())
                           .where(Tag.event_id.in_(list(event_ids)))
                           .group_by(Tag.event_id, Tag.label_id))
    for event_id, label_id, count in rows:
        counts[event_id][label_id] = count
    return counts


def undone_by(session: Session, event_ids: Sequence[int]) -> dict[int, int]:
    """{event id: id of the newest undo event of it} for those of the events that have one."""
    if not event_ids:
        return {}
    return dict(session.execute(
        select(TaggingEvent.undoes_event_id, func.max(TaggingEvent.id))
        .where(TaggingEvent.undoes_event_id.in_(list(event_ids)))
        .group_by(TaggingEvent.undoes_event_id)).all())
